//! The metrics HTTP listener (axum), separate from the gRPC port:
//! `/metrics` (Prometheus text format: the recorder plus process metrics),
//! `/healthz` (the process answers) and `/readyz` (rules loaded, not draining).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{extract::State, http::header, http::StatusCode, response::IntoResponse, routing::get, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use super::{process, MetricsError};
use crate::config::Settings;

/// Content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type ReadyCheck = dyn Fn() -> Result<(), String> + Send + Sync;
type ReadyNote = dyn Fn() -> Option<String> + Send + Sync;

/// What `/readyz` answers: ready while `check` passes (e.g. a rule set is
/// loaded) and the daemon is not draining.
#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    check: Arc<ReadyCheck>,
    note: Arc<ReadyNote>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").field("draining", &self.is_draining()).finish_non_exhaustive()
    }
}

impl Readiness {
    /// `check` returns why the daemon is not ready, if it is not.
    pub fn new(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self { draining: Arc::new(AtomicBool::new(false)), check: Arc::new(check), note: Arc::new(|| None) }
    }

    /// A warning a ready `/readyz` adds to its answer (200 `ready` + `warning: …`), e.g.
    /// rule packs in force without verified test cases while the test gate is off.
    pub fn with_note(mut self, note: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.note = Arc::new(note);
        self
    }

    /// The warning of a ready daemon, if any.
    pub fn note(&self) -> Option<String> {
        (self.note)()
    }

    /// Always ready until draining.
    pub fn always() -> Self {
        Self::new(|| Ok(()))
    }

    /// Shutdown started: `/readyz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `Ok` when ready, else the reason.
    pub fn status(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining".into());
        }
        (self.check)()
    }
}

#[derive(Clone)]
struct AppState {
    handle: PrometheusHandle,
    readiness: Readiness,
}

/// A running metrics listener; [`MetricsListener::stop`] ends it.
#[derive(Debug)]
pub struct MetricsListener {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl MetricsListener {
    /// Bind `addr` (port 0 picks a free port) and serve until stopped.
    pub async fn start(
        addr: SocketAddr,
        handle: PrometheusHandle,
        readiness: Readiness,
        security: &Arc<crate::listen::Security>,
    ) -> Result<Self, MetricsError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|source| MetricsError::Bind { addr: addr.to_string(), source })?;
        Self::serve(listener, handle, readiness, security)
    }

    /// What `cdssd serve` does: with `metrics.listen` set, install the
    /// process-wide recorder and serve on that address; otherwise record
    /// nothing and return `None`.
    pub async fn from_settings(
        settings: &Settings,
        readiness: Readiness,
        security: &Arc<crate::listen::Security>,
    ) -> Result<Option<Self>, MetricsError> {
        match settings.metrics_addr() {
            Some(addr) => Ok(Some(Self::start(addr, super::install()?, readiness, security).await?)),
            None => Ok(None),
        }
    }

    /// Serve on an already bound listener.
    /// TLS as `[tls]` says (mutual TLS included); no bearer token (Prometheus scrapes
    /// it; it carries no patient data).
    pub fn serve(
        listener: TcpListener,
        handle: PrometheusHandle,
        readiness: Readiness,
        security: &Arc<crate::listen::Security>,
    ) -> Result<Self, MetricsError> {
        let addr =
            listener.local_addr().map_err(|source| MetricsError::Bind { addr: "<bound listener>".into(), source })?;
        let listener = crate::listen::accept(
            listener,
            security.tls().map(|t| (t.clone(), crate::listen::Alpn::Http1)),
            security.limits(),
            crate::listen::ListenerName::Metrics,
        )
        .map_err(|source| MetricsError::Bind { addr: addr.to_string(), source })?;
        let limits = security.limits();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(handle.clone(), readiness);
        let task = tokio::spawn(async move {
            // Histogram samples accumulate between scrapes; upkeep bounds them
            // even when nobody scrapes.
            let upkeep = tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    handle.run_upkeep();
                }
            });
            let res =
                crate::listen::serve_http1(listener, app, limits, crate::listen::ListenerName::Metrics, async move {
                    let _ = stopped.await;
                })
                .await;
            upkeep.abort();
            res
        });
        tracing::info!(%addr, "Serving metrics, /healthz and /readyz.");
        Ok(Self { addr, stop: Some(stop), task })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, finish open requests, return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "Metrics listener failed."),
            Err(e) => tracing::warn!(error = %e, "Metrics listener task ended abnormally."),
        }
    }
}

/// The routes, for embedding or tests.
pub fn router(handle: PrometheusHandle, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { handle, readiness })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.handle.render();
    if !body.is_empty() && !body.ends_with("\n\n") {
        body.push('\n');
    }
    process::render(&process::sample(), &mut body);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.readiness.status() {
        Ok(()) => match state.readiness.note() {
            None => (StatusCode::OK, "ready\n".to_string()),
            Some(note) => (StatusCode::OK, format!("ready\nwarning: {note}\n")),
        },
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}
