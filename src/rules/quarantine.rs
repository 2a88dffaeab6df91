//! Quarantine of a rule that keeps hitting its budget.
//!
//! A data-dependent endless loop that the test cases do not reach costs a whole time
//! budget (`rules.max_rule_ms`) on every encounter that triggers it. When a rule stops at
//! its operation or time budget `after_hits` times within `window`, it is quarantined:
//! for `cool_down` every request gets an `error` finding for it (reason key
//! `quarantined`, saying until when) without running the script, the event is logged
//! (rule id only) and counted in `cdssd_rule_quarantines_total`. After the cool-down the
//! rule runs again on probation: its next budget hit quarantines it at once, its next
//! completed call ends the probation. A reload that changes the rule set compiles new
//! rules, with a clean state (a reload of identical files keeps the set, and its state).
//!
//! Cost on the request path: one atomic load per rule call; the lock is taken only when a
//! call hits its budget.
use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use super::{finding::Finding, load::Rule};
use crate::diagnostic::Diagnostic;

/// When a rule is quarantined (`rules.quarantine_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Budget hits within `window` that quarantine the rule; 0 turns quarantine off.
    pub after_hits: u32,
    pub window: Duration,
    pub cool_down: Duration,
}

impl Default for Policy {
    /// The embedded configuration's values.
    fn default() -> Self {
        Self { after_hits: 3, window: Duration::from_secs(60), cool_down: Duration::from_secs(300) }
    }
}

/// The quarantine state of one rule, kept with the compiled rule.
#[derive(Debug)]
pub struct State {
    /// Reference point of `until_ms`.
    base: Instant,
    /// Quarantined until `base + until_ms` milliseconds; 0 = never quarantined.
    until_ms: AtomicU64,
    /// Set when a quarantine starts; cleared by the first completed call after it.
    probation: AtomicBool,
    /// Times of recent budget hits (at most `after_hits`).
    hits: Mutex<VecDeque<Instant>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            until_ms: AtomicU64::new(0),
            probation: AtomicBool::new(false),
            hits: Mutex::new(VecDeque::new()),
        }
    }
}

/// What recording one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing changed.
    Nothing,
    /// This budget hit quarantined the rule, for `cool_down`.
    Quarantined { hits: u32 },
}

impl State {
    /// `Some(remaining)` while the rule is quarantined at `now`.
    pub fn blocked(&self, now: Instant) -> Option<Duration> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 {
            return None;
        }
        let until = self.base + Duration::from_millis(until);
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Record one completed call (`budget_hit`: it stopped at its operation or time budget).
    pub fn record(&self, policy: &Policy, budget_hit: bool, now: Instant) -> Recorded {
        if policy.after_hits == 0 {
            return Recorded::Nothing;
        }
        if !budget_hit {
            if self.probation.load(Ordering::Relaxed) {
                self.probation.store(false, Ordering::Relaxed);
            }
            return Recorded::Nothing;
        }
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if self.blocked(now).is_some() {
            return Recorded::Nothing;
        }
        while hits.front().is_some_and(|t| now.saturating_duration_since(*t) > policy.window) {
            hits.pop_front();
        }
        hits.push_back(now);
        let on_probation = self.probation.load(Ordering::Relaxed);
        if !on_probation && hits.len() < policy.after_hits as usize {
            return Recorded::Nothing;
        }
        let count = hits.len() as u32;
        hits.clear();
        let until = now.saturating_duration_since(self.base) + policy.cool_down;
        self.until_ms.store((until.as_millis() as u64).max(1), Ordering::Release);
        self.probation.store(true, Ordering::Relaxed);
        Recorded::Quarantined { hits: count }
    }
}

/// The `error` finding of a quarantined rule (`f`: its blank error finding): no script
/// value, no encounter data, only the policy and the time left.
pub fn finding(mut f: Finding, rule: &Rule, policy: &Policy, left: Duration) -> Finding {
    let (hits, window, cool) = (policy.after_hits, policy.window.as_secs(), policy.cool_down.as_secs());
    let left = left.as_secs().max(1);
    let text = f.locale.pick(
        &format!(
            "规则已隔离：{window} 秒内 {hits} 次超出运算量或时间上限，本规则暂停运行 {cool} 秒（还剩 {left} 秒）；请修正后重新加载规则集。"
        ),
        &format!(
            "Rule quarantined: it stopped at its operation or time budget {hits} times within {window} s and is skipped for {cool} s ({left} s left); fix it and reload the rule set."
        ),
    )
    .to_string();
    let (line, col) = super::error::pos_parts(rule.evaluate_pos);
    f.fault = Some(Diagnostic::new(&rule.path, line, col, text.clone()));
    f.message = text;
    f.reason_key = "quarantined".to_string();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn policy() -> Policy {
        Policy { after_hits: 3, window: 60 * S, cool_down: 300 * S }
    }

    #[test]
    fn three_hits_within_the_window_quarantine_for_the_cool_down() {
        let (s, p) = (State::default(), policy());
        let t0 = Instant::now();
        assert_eq!(s.record(&p, true, t0), Recorded::Nothing);
        assert_eq!(s.record(&p, false, t0 + S), Recorded::Nothing, "a completed call between hits does not reset");
        assert_eq!(s.record(&p, true, t0 + 2 * S), Recorded::Nothing);
        assert!(s.blocked(t0 + 2 * S).is_none());
        // The third hit exactly at the window's end still counts.
        assert_eq!(s.record(&p, true, t0 + 60 * S), Recorded::Quarantined { hits: 3 });
        let left = s.blocked(t0 + 61 * S).expect("quarantined");
        assert!(left > 298 * S && left <= 299 * S, "{left:?}");
        assert!(s.blocked(t0 + 359 * S).is_some());
        assert!(s.blocked(t0 + 361 * S).is_none(), "cool-down over");
    }

    #[test]
    fn hits_further_apart_than_the_window_never_quarantine() {
        let (s, p) = (State::default(), policy());
        let t0 = Instant::now();
        for i in 0..10u32 {
            // 31 s apart: never three within 60 s.
            assert_eq!(s.record(&p, true, t0 + 31 * i * S), Recorded::Nothing, "hit {i}");
        }
        assert!(s.blocked(t0 + 400 * S).is_none());
    }

    #[test]
    fn one_hit_on_probation_quarantines_again_and_a_completed_call_ends_probation() {
        let (s, p) = (State::default(), policy());
        let t0 = Instant::now();
        for i in 0..3 {
            s.record(&p, true, t0 + i * S);
        }
        assert!(s.blocked(t0 + 3 * S).is_some());
        let after = t0 + 400 * S;
        assert!(s.blocked(after).is_none());
        assert_eq!(s.record(&p, true, after), Recorded::Quarantined { hits: 1 }, "probation: one hit suffices");
        let later = after + 301 * S;
        assert!(s.blocked(later).is_none());
        assert_eq!(s.record(&p, false, later), Recorded::Nothing);
        assert_eq!(s.record(&p, true, later + S), Recorded::Nothing, "probation ended: back to 3 hits");
    }

    #[test]
    fn zero_hits_turns_quarantine_off() {
        let (s, p) = (State::default(), Policy { after_hits: 0, ..policy() });
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(s.record(&p, true, t0 + i * S), Recorded::Nothing);
        }
        assert!(s.blocked(t0 + 10 * S).is_none());
    }
}
