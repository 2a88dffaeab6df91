//! Hot reload: watch the models directory and reload (all or nothing) after changes settle.

use std::path::PathBuf;
use std::sync::{mpsc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::Inner;

fn relevant(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_))
        && !matches!(kind, EventKind::Modify(notify::event::ModifyKind::Metadata(_)))
}

/// Starts a thread that reloads `inner` after file changes under `dir`, debounced by
/// `debounce_ms`. The thread ends when the service is dropped.
pub(super) fn spawn(inner: Weak<Inner>, dir: PathBuf, debounce_ms: u64) {
    let (tx, rx) = mpsc::channel();
    let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if relevant(&ev.kind) {
                let _ = tx.send(());
            }
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the models directory; reload with ReloadModels");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the models directory; reload with ReloadModels");
        return;
    }
    let debounce = Duration::from_millis(debounce_ms.max(10));
    let spawned = std::thread::Builder::new().name("cdssd-models-watch".into()).spawn(move || {
        let _watcher = watcher;
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(()) => {
                    // Let a burst of writes (copying a model directory) settle.
                    while rx.recv_timeout(debounce).is_ok() {}
                    let Some(inner) = inner.upgrade() else { return };
                    let r = inner.reload();
                    tracing::info!(status = r.status, version = %r.version, errors = r.errors.len(), "models changed on disk: reload");
                }
                Err(mpsc::RecvTimeoutError::Timeout) if inner.strong_count() > 0 => {}
                Err(_) => return,
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the models watcher");
    }
}
