//! The one watcher: one `notify` watcher over every component's sources, one task that
//! debounces per component and reloads through [`super::run`], and SIGHUP into the same
//! task (a SIGHUP reloads every component at once).
//!
//! A directory is watched recursively; an event counts when its path below the directory
//! has no dot-entry (editor swap files, `.git`), except `..data` itself: kubelet updates a
//! ConfigMap or Secret volume by writing a new `..<timestamp>/` directory and renaming a
//! `..data_tmp` link onto `..data`, so the rename onto `..data` is the one event of an
//! update (the writes into `..<timestamp>/` before it are skipped). A file is watched
//! through its directory: an event on its name, or on `..data` beside it, counts.

use std::{
    collections::HashSet,
    ffi::OsStr,
    path::{Component as PathPart, Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use notify::{RecursiveMode, Watcher};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};

use super::{run, Cause, Reload};

/// Longest a burst of events can postpone a component's reload.
const MAX_DELAY: Duration = Duration::from_millis(1500);

/// The watcher could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `notify` refused (no inotify instance left, a path that cannot be watched).
    #[error("cannot watch {path}: {detail}")]
    Notify { path: String, detail: String },
    /// The SIGHUP handler could not be installed.
    #[error("cannot handle SIGHUP: {0}")]
    Signal(String),
}

/// What one source path matches.
#[derive(Debug, Clone)]
enum Spec {
    /// Everything below these spellings of one directory (as given, absolute, canonical).
    Dir(Vec<PathBuf>),
    /// A file name in these spellings of its directory.
    File { dirs: Vec<PathBuf>, name: std::ffi::OsString },
}

fn spellings(p: &Path) -> Vec<PathBuf> {
    let mut v = vec![p.to_path_buf()];
    if let Ok(cwd) = std::env::current_dir() {
        v.push(cwd.join(p));
    }
    if let Ok(c) = p.canonicalize() {
        v.push(c);
    }
    v.dedup();
    v
}

impl Spec {
    fn of(p: &Path) -> Self {
        if p.is_dir() {
            return Spec::Dir(spellings(p));
        }
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Spec::File { dirs: spellings(dir), name: p.file_name().unwrap_or_default().to_os_string() }
    }

    /// The path `notify` watches and how.
    fn watch_root(&self) -> (&Path, RecursiveMode) {
        match self {
            Spec::Dir(d) => (&d[0], RecursiveMode::Recursive),
            Spec::File { dirs, .. } => (&dirs[0], RecursiveMode::NonRecursive),
        }
    }

    fn matches(&self, event: &Path) -> bool {
        match self {
            Spec::Dir(roots) => roots.iter().any(|r| event.strip_prefix(r).is_ok_and(relevant_below)),
            Spec::File { dirs, name } => {
                event.parent().is_some_and(|d| dirs.iter().any(|x| x == d))
                    && event.file_name().is_some_and(|n| n == name.as_os_str() || n == OsStr::new("..data"))
            }
        }
    }
}

/// A path below a watched directory counts unless it goes through a dot-entry other
/// than a top-level `..data` (see the module documentation).
fn relevant_below(rel: &Path) -> bool {
    rel.components().enumerate().all(|(i, c)| match c {
        PathPart::Normal(n) => !n.to_string_lossy().starts_with('.') || (i == 0 && n == OsStr::new("..data")),
        _ => false,
    })
}

struct Target {
    reload: Arc<dyn Reload>,
    specs: Vec<Spec>,
    debounce: Duration,
}

/// Builds the one watcher: add every component, then [`Reloader::start`].
#[derive(Default)]
pub struct Reloader {
    targets: Vec<Target>,
    sighup: bool,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.targets.iter().map(|t| t.reload.component().label()).collect();
        f.debug_struct("Reloader").field("targets", &names).field("sighup", &self.sighup).finish()
    }
}

enum Signal {
    /// Files of these targets changed.
    Files(Vec<usize>),
    Hangup,
}

impl Reloader {
    /// No components yet; SIGHUP not handled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reload `target` on SIGHUP and, when `watch_files`, after its sources changed and
    /// stayed quiet for `debounce` (at most 1.5 s after the first event of a burst).
    pub fn add(mut self, target: Arc<dyn Reload>, watch_files: bool, debounce: Duration) -> Self {
        let specs = if watch_files { target.sources().iter().map(|p| Spec::of(p)).collect() } else { Vec::new() };
        self.targets.push(Target { reload: target, specs, debounce: debounce.max(Duration::from_millis(10)) });
        self
    }

    /// Also reload every component on SIGHUP (`cdssd serve`).
    pub fn on_sighup(mut self) -> Self {
        self.sighup = true;
        self
    }

    /// Start watching. Must be called inside a Tokio runtime; keep the guard while serving.
    pub fn start(self) -> Result<Running, WatchError> {
        let (tx, rx) = mpsc::unbounded_channel::<Signal>();
        let specs: Vec<(usize, Spec)> =
            self.targets.iter().enumerate().flat_map(|(i, t)| t.specs.iter().map(move |s| (i, s.clone()))).collect();
        let watcher = if specs.is_empty() { None } else { Some(file_watcher(&specs, tx.clone())?) };
        let sighup = if self.sighup { Some(hangup(tx.clone())?) } else { None };
        drop(tx);
        let targets: Vec<(Arc<dyn Reload>, Duration)> =
            self.targets.into_iter().map(|t| (t.reload, t.debounce)).collect();
        let task = tokio::spawn(dispatch(targets, rx));
        Ok(Running { _watcher: watcher, task, sighup })
    }
}

fn file_watcher(
    specs: &[(usize, Spec)],
    tx: mpsc::UnboundedSender<Signal>,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let matching = specs.to_vec();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) if !matches!(ev.kind, notify::EventKind::Access(_)) => {
            let hit: HashSet<usize> =
                matching.iter().filter(|(_, s)| ev.paths.iter().any(|p| s.matches(p))).map(|(i, _)| *i).collect();
            if !hit.is_empty() {
                let _ = tx.send(Signal::Files(hit.into_iter().collect()));
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "file watcher error"),
    })
    .map_err(|e| WatchError::Notify { path: String::new(), detail: e.to_string() })?;
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for (_, s) in specs {
        let (p, mode) = s.watch_root();
        match roots.iter_mut().find(|(q, _)| q == p) {
            Some(r) if mode == RecursiveMode::Recursive => r.1 = mode,
            Some(_) => {}
            None => roots.push((p.to_path_buf(), mode)),
        }
    }
    for (p, mode) in roots {
        watcher
            .watch(&p, mode)
            .map_err(|e| WatchError::Notify { path: p.display().to_string(), detail: e.to_string() })?;
    }
    Ok(watcher)
}

#[cfg(unix)]
fn hangup(tx: mpsc::UnboundedSender<Signal>) -> Result<JoinHandle<()>, WatchError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| WatchError::Signal(e.to_string()))?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if tx.send(Signal::Hangup).is_err() {
                return;
            }
        }
    }))
}

#[cfg(not(unix))]
fn hangup(_tx: mpsc::UnboundedSender<Signal>) -> Result<JoinHandle<()>, WatchError> {
    Ok(tokio::spawn(async {}))
}

/// The one loop: per target, the first event of a burst and the time it is due.
async fn dispatch(targets: Vec<(Arc<dyn Reload>, Duration)>, mut rx: mpsc::UnboundedReceiver<Signal>) {
    let mut first: Vec<Option<Instant>> = vec![None; targets.len()];
    let mut due: Vec<Option<Instant>> = vec![None; targets.len()];
    loop {
        let next = due.iter().flatten().min().copied();
        let signal = match next {
            Some(at) => tokio::select! {
                s = rx.recv() => s,
                () = tokio::time::sleep_until(at) => {
                    let now = Instant::now();
                    for (i, (target, _)) in targets.iter().enumerate() {
                        if due[i].is_some_and(|d| d <= now) {
                            due[i] = None;
                            first[i] = None;
                            run(target.clone(), Cause::FileChange).await;
                        }
                    }
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match signal {
            None => return,
            Some(Signal::Files(hit)) => {
                let now = Instant::now();
                for i in hit {
                    let started = *first[i].get_or_insert(now);
                    due[i] = Some((now + targets[i].1).min(started + MAX_DELAY));
                }
            }
            Some(Signal::Hangup) => {
                for (i, (target, _)) in targets.iter().enumerate() {
                    due[i] = None;
                    first[i] = None;
                    run(target.clone(), Cause::Sighup).await;
                }
            }
        }
    }
}

/// Keeps the watcher, its task and the SIGHUP handler alive; dropping it stops them.
pub struct Running {
    _watcher: Option<notify::RecommendedWatcher>,
    task: JoinHandle<()>,
    sighup: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(h) = self.sighup.take() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_entries_are_skipped_except_a_top_level_data_swap() {
        assert!(relevant_below(Path::new("stemi/aspirin.rhai")));
        assert!(relevant_below(Path::new("..data")));
        assert!(relevant_below(Path::new("")));
        assert!(!relevant_below(Path::new("stemi/.aspirin.rhai.swp")));
        assert!(!relevant_below(Path::new(".git/index")));
        assert!(!relevant_below(Path::new("..2026_03_01_a/stemi/aspirin.rhai")));
        assert!(!relevant_below(Path::new("..data_tmp")));
        assert!(!relevant_below(Path::new("stemi/..data")));
    }

    #[test]
    fn a_file_matches_its_name_or_a_data_swap_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("draft.toml");
        std::fs::write(&f, "x").unwrap();
        let s = Spec::of(&f);
        assert!(s.matches(&f));
        assert!(s.matches(&dir.path().join("..data")));
        assert!(!s.matches(&dir.path().join("other.toml")));
        assert!(!s.matches(&dir.path().join(".draft.toml.swp")));
        let d = Spec::of(dir.path());
        assert!(d.matches(&dir.path().join("kb/a.toml")) && !d.matches(&dir.path().join("kb/.a.toml~")));
        assert!(!d.matches(Path::new("/elsewhere/a.toml")));
    }
}
