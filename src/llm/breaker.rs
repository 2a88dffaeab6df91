//! Circuit breaker around the LLM endpoint.
//!
//! Closed: calls pass; `failure_threshold` consecutive failures open it.
//! Open: calls are refused at once (status `circuit_open`) until `open_for`
//! has passed. Half-open: one probe call at a time passes; its success closes
//! the breaker, its failure opens it again. A permit dropped without an
//! outcome (the caller gave up, e.g. the request budget ran out) counts as
//! neither, and a half-open breaker lets the next probe through.
//!
//! Time is passed in explicitly so the state machine is testable without sleeping.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// Observable breaker state (for logs, metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    failure_threshold: u32,
    open_for: Duration,
}

/// A shared circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    inner: Arc<Mutex<Inner>>,
}

/// Permission to make one call; report its outcome with [`Permit::success`] or [`Permit::failure`].
#[derive(Debug)]
pub struct Permit {
    breaker: Breaker,
    probe: bool,
    done: bool,
}

impl Breaker {
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                failure_threshold: failure_threshold.max(1),
                open_for,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while holding it; the state is still coherent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask to make a call at `now`. `Err(until)` when open (or a probe is already in flight).
    pub fn acquire(&self, now: Instant) -> Result<Permit, Option<Instant>> {
        let mut g = self.lock();
        let probe = match g.state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return Err(Some(until)),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                g.state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return Err(None),
        };
        Ok(Permit { breaker: self.clone(), probe, done: false })
    }

    /// The state at `now` (an open breaker whose time is up reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.lock().state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn record(&self, probe: bool, ok: bool, now: Instant) {
        let mut g = self.lock();
        let open = State::Open { until: now + g.open_for };
        g.state = match (g.state, ok) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if !probe => {
                if failures + 1 >= g.failure_threshold {
                    open
                } else {
                    State::Closed { failures: failures + 1 }
                }
            }
            // A failed probe, or a failure reported while another call already opened it.
            (State::HalfOpen { .. }, false) | (State::Closed { .. }, false) => open,
            (s @ State::Open { .. }, false) => s,
        };
    }
}

impl Permit {
    /// The call succeeded (the endpoint answered).
    pub fn success(mut self, now: Instant) {
        self.done = true;
        self.breaker.record(self.probe, true, now);
    }

    /// The call failed for a reason the endpoint is responsible for.
    pub fn failure(mut self, now: Instant) {
        self.done = true;
        self.breaker.record(self.probe, false, now);
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            let mut g = self.breaker.lock();
            if g.state == (State::HalfOpen { probing: true }) {
                g.state = State::HalfOpen { probing: false };
            }
        }
    }
}
