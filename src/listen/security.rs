//! What every listener enforces, built once from `[tls]`, `[auth]` and the connection
//! limits, and reloaded as one ([`Reload`]: the one watcher on their files, SIGHUP): the
//! TLS identity and the issuers' keys are re-read together; a reload that fails keeps
//! what was in force.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use arc_swap::ArcSwapOption;

use super::{Limits, ServerTls, TlsError};
use crate::{
    auth::{Access, Caller, KeyError, Refusal, Verifier},
    config::{security::AuthSettings, Settings},
    diagnostic::Diagnostic,
    reload::{Cause, Component, Outcome, Reload},
};

/// TLS or key files that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("auth: {0}")]
    Keys(#[from] KeyError),
}

/// See the module documentation.
#[derive(Debug)]
pub struct Security {
    tls: Option<Arc<ServerTls>>,
    auth: AuthSettings,
    verifier: ArcSwapOption<Verifier>,
    limits: Limits,
    /// The latest reload outcome and the number of attempts (the start-up build is one).
    last: Mutex<Outcome>,
    attempts: AtomicU64,
}

impl Security {
    /// Build from validated settings; fails when a file cannot be used.
    pub fn from_settings(s: &Settings) -> Result<Arc<Self>, SecurityError> {
        let tls = ServerTls::from_settings(&s.tls)?;
        let verifier = Verifier::from_settings(&s.auth)?.map(Arc::new);
        Ok(Arc::new(Self {
            tls,
            auth: s.auth.clone(),
            verifier: ArcSwapOption::new(verifier),
            limits: Limits::from_settings(&s.server),
            last: Mutex::new(crate::reload::finish(Outcome {
                loaded: true,
                ..Outcome::failed(Component::Security, Cause::Startup, String::new(), Vec::new())
            })),
            attempts: AtomicU64::new(1),
        }))
    }

    /// The TLS identity, when TLS is on.
    pub fn tls(&self) -> Option<&Arc<ServerTls>> {
        self.tls.as_ref()
    }

    /// The connection limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True when callers must present a token.
    pub fn authenticates(&self) -> bool {
        self.verifier.load().is_some()
    }

    /// Check a call's `authorization` header for `access`; `Ok(None)` when
    /// authentication is off. Counts every refusal.
    pub fn check(&self, authorization: Option<&str>, access: Access) -> Result<Option<Caller>, Refusal> {
        let Some(v) = self.verifier.load_full() else { return Ok(None) };
        match v.check(authorization, access) {
            Ok(c) => Ok(Some(c)),
            Err(r) => {
                metrics::counter!("cdssd_auth_refusals_total", "reason" => r.label()).increment(1);
                tracing::info!(reason = r.label(), "call refused");
                Err(r)
            }
        }
    }

    /// Re-read the TLS files and the issuers' keys; all or nothing per part.
    pub fn reload(&self) -> Result<(), SecurityError> {
        if let Some(t) = &self.tls {
            t.reload()?;
        }
        if let Some(old) = self.verifier.load_full() {
            if let Some(v) = old.reloaded(&self.auth)? {
                self.verifier.store(Some(Arc::new(v)));
            }
        }
        Ok(())
    }

    /// Every file the reload reads.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut f = self.tls.as_ref().map(|t| t.files()).unwrap_or_default();
        if self.verifier.load().is_some() {
            f.extend(self.auth.issuers.iter().map(|i| PathBuf::from(&i.keys_file)));
        }
        f
    }
}

impl Reload for Security {
    fn component(&self) -> Component {
        Component::Security
    }

    /// The TLS files and the issuers' key files.
    fn sources(&self) -> Vec<PathBuf> {
        self.files()
    }

    fn reload(&self, cause: Cause) -> Outcome {
        let mut o = Outcome::failed(Component::Security, cause, String::new(), Vec::new());
        match Security::reload(self) {
            Ok(()) => (o.loaded, o.changed) = (true, true),
            Err(e) => o.errors.push(Diagnostic::file("", e.to_string())),
        }
        let o = crate::reload::finish(o);
        self.attempts.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = o.clone();
        o
    }

    fn last_outcome(&self) -> Outcome {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }
}
