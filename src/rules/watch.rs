//! Hot reload triggers: a debounced file watcher on the rules directory and SIGHUP.
//!
//! Any change under the directory (including a Kubernetes ConfigMap `..data` symlink
//! swap, which shows up as create/rename events on the directory itself) schedules one
//! reload once the directory has been quiet for the debounce window. Unchanged content
//! is detected by the content hash and does not swap anything.
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::RulesError;
use super::store::{ReloadOutcome, RuleStore};

/// Quiet time after the last event before reloading.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Longest a burst of events can postpone a reload.
const MAX_DELAY: Duration = Duration::from_millis(1500);

/// Keeps the watch alive; dropping it stops watching.
pub struct RulesWatcher {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for RulesWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reload on a blocking thread (compilation is CPU and file work).
pub async fn reload_blocking(store: Arc<RuleStore>, reason: &'static str) -> ReloadOutcome {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.reload(reason)).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "rule reload task failed");
            store.last_reload()
        }
    }
}

/// Start watching the store's directory. Must be called inside a Tokio runtime.
pub fn watch(store: Arc<RuleStore>, debounce: Duration) -> Result<RulesWatcher, RulesError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) if !matches!(ev.kind, notify::EventKind::Access(_)) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "rules watcher error"),
    })
    .map_err(|e| RulesError::Watch(e.to_string()))?;
    watcher
        .watch(store.dir(), RecursiveMode::Recursive)
        .map_err(|e| RulesError::Watch(format!("{}: {e}", store.dir().display())))?;

    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            let started = tokio::time::Instant::now();
            // Debounce: wait until the directory is quiet (editors and kubelet write
            // several files and symlinks per change).
            loop {
                let left = MAX_DELAY.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(debounce.min(left), rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            reload_blocking(store.clone(), "file change").await;
        }
    });
    Ok(RulesWatcher { _watcher: watcher, task })
}

/// Reload on every SIGHUP. Must be called inside a Tokio runtime.
#[cfg(unix)]
pub fn reload_on_sighup(store: Arc<RuleStore>) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload_blocking(store.clone(), "SIGHUP").await;
        }
    }))
}
