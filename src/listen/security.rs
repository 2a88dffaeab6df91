//! What every listener enforces, built once from `[tls]`, `[auth]` and the connection
//! limits, and reloaded as one: the TLS identity and the issuers' keys are re-read
//! together (SIGHUP, or a change to one of their files); a reload that fails keeps
//! what was in force.

use std::{path::PathBuf, sync::Arc, time::Duration};

use arc_swap::ArcSwapOption;

use super::{Limits, ServerTls, TlsError};
use crate::{
    auth::{Access, Caller, KeyError, Refusal, Verifier},
    config::{security::AuthSettings, Settings},
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

    fn reload_logged(&self, reason: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(%reason, "TLS identity and token keys reloaded"),
            Err(e) => {
                tracing::warn!(%reason, error = %e, "TLS identity / token keys not reloaded; the previous ones stay in force")
            }
        }
    }
}

/// Keeps the watch on the security files alive.
pub struct SecurityWatcher {
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SecurityWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reload `security` on SIGHUP and when one of its files' directories changes (a
/// Kubernetes Secret mount swaps its `..data` link). Must run inside a Tokio runtime.
pub fn watch(security: Arc<Security>) -> SecurityWatcher {
    use notify::Watcher;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let mut dirs: Vec<PathBuf> = security.files().iter().filter_map(|f| f.parent().map(|p| p.to_path_buf())).collect();
    dirs.sort();
    dirs.dedup();
    // Only events on the files themselves (or a Kubernetes `..data` swap) count: the
    // directories may hold other files that change all the time.
    let names: Vec<std::ffi::OsString> =
        security.files().iter().filter_map(|f| f.file_name().map(|n| n.to_os_string())).collect();
    let file_tx = tx.clone();
    let watcher = if dirs.is_empty() {
        None
    } else {
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                return;
            }
            let ours = ev
                .paths
                .iter()
                .filter_map(|p| p.file_name())
                .any(|n| names.iter().any(|m| m == n) || n.to_string_lossy().starts_with(".."));
            if ours {
                let _ = file_tx.send("file change");
            }
        }) {
            Ok(mut w) => {
                for d in &dirs {
                    let d = if d.as_os_str().is_empty() { std::path::Path::new(".") } else { d.as_path() };
                    if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                        tracing::warn!(error = %e, dir = %d.display(), "cannot watch; reload TLS and keys with SIGHUP");
                    }
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the TLS and key files; reload them with SIGHUP");
                None
            }
        }
    };
    #[cfg(unix)]
    {
        let tx = tx.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send("SIGHUP").is_err() {
                        return;
                    }
                }
            });
        }
    }
    drop(tx);
    let task = tokio::spawn(async move {
        while let Some(reason) = rx.recv().await {
            // Let a burst (cert and key written one after the other) settle.
            while tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.is_ok_and(|r| r.is_some()) {}
            let s = security.clone();
            let _ = tokio::task::spawn_blocking(move || s.reload_logged(reason)).await;
        }
    });
    SecurityWatcher { _watcher: watcher, task }
}
