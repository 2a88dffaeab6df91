//! gRPC transport: the `cdss.v1` services, `grpc.health.v1`, reflection, and
//! graceful shutdown. [`run`] takes its listener and shutdown future from the
//! caller, so tests run real servers on port 0 and stop them at will.

mod audit;
pub(crate) mod auth;
mod connect;
mod drain;
mod edge;
mod error;
pub(crate) mod json;
mod malformed;
mod service;
mod stream;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic_health::ServingStatus;

pub use audit::AuditApi;
pub use edge::{caller_from, request_id_from};
pub use service::{AdminApi, CdsApi};

use crate::{
    pipeline::Pipeline,
    proto::{
        v1::{admin_service_server::AdminServiceServer, cds_service_server::CdsServiceServer},
        FILE_DESCRIPTOR_SET,
    },
};

/// The methods whose request body is a stream (no read bound; `server.idle_timeout_s`
/// applies): server reflection. Every `cdss.v1` request is one message.
const STREAMING_REQUESTS: &[&str] = &[
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The server could not start or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot set up reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{0}")]
    Security(#[from] crate::listen::SecurityError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Serve until `shutdown` resolves, then drain: health turns NOT_SERVING,
/// no new connections are accepted, in-flight requests get up to
/// `server.drain_grace_ms` to finish.
pub async fn run(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let security = crate::listen::Security::from_settings(pipeline.settings())?;
    run_secured(listener, pipeline, security, shutdown).await
}

/// [`run`] with the TLS identity, token verifier and connection limits built (and
/// reloaded) by the caller: `cdssd serve` shares one [`crate::listen::Security`]
/// between its listeners.
pub async fn run_secured(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    security: Arc<crate::listen::Security>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let settings = pipeline.settings().clone();
    let grace = Duration::from_millis(settings.server.drain_grace_ms);
    let max = settings.server.max_request_bytes;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CdsServiceServer<CdsApi>>().await;
    health.set_service_status("", ServingStatus::Serving).await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let cds = CdsServiceServer::new(CdsApi::new(pipeline.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(64 * 1024 * 1024)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let admin = AdminServiceServer::new(AdminApi::new(pipeline.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let audit =
        crate::proto::v1::audit_service_server::AuditServiceServer::new(AuditApi::new(pipeline.audit().cloned()))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);

    let cut = tokio_util::sync::CancellationToken::new();
    let draining = Arc::new(tokio::sync::Notify::new());
    let drain_started = draining.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!(grace_ms = grace.as_millis() as u64, "Shutdown requested; draining in-flight requests.");
        health.set_not_serving::<CdsServiceServer<CdsApi>>().await;
        health.set_service_status("", ServingStatus::NotServing).await;
        drain_started.notify_one();
    };

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, tls = security.tls().is_some(), authenticated = security.authenticates(), "Serving gRPC.");
    }
    let accepted = crate::listen::accept(
        listener,
        security.tls().map(|t| (t.clone(), crate::listen::Alpn::GrpcPort)),
        security.limits(),
        crate::listen::ListenerName::Grpc,
    )?;
    // gRPC over HTTP/2, gRPC-Web and Connect over HTTP/1.1 and h2c, behind one edge (request
    // ids, content types); Connect and gRPC-Web re-frame their calls as gRPC to the same routes.
    let limits = security.limits();
    let deadline =
        crate::listen::ReadDeadline { limit: limits.request_read, listener: crate::listen::ListenerName::Grpc };
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .concurrency_limit_per_connection(settings.server.concurrency_per_connection)
        .max_concurrent_streams(limits.http2_max_streams)
        .http2_max_header_list_size(limits.max_header_bytes)
        .http2_keepalive_interval(limits.http2_keepalive)
        .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout))
        .layer(
            tower::ServiceBuilder::new()
                // Slow clients: a request body must arrive within
                // server.request_read_timeout_ms of its head; a streaming one is open-ended.
                .map_request(move |r: http::Request<tonic::body::Body>| {
                    if STREAMING_REQUESTS.contains(&r.uri().path()) {
                        r
                    } else {
                        deadline.wrap(r).map(tonic::body::Body::new)
                    }
                })
                .layer(edge::EdgeLayer)
                .layer(connect::ConnectLayer { max_request_bytes: max })
                .layer(tonic_web::GrpcWebLayer::new())
                .layer(auth::AuthLayer { security: security.clone() }),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(cds)
        .add_service(admin)
        .add_service(audit)
        .serve_with_incoming_shutdown(drain::incoming(accepted, cut.clone()), signal);
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => {
            res?;
            tracing::info!("Drained; server stopped.");
        }
        _ = async { draining.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("Drain grace period elapsed; abandoning the requests still in flight.");
            cut.cancel();
        }
    }
    Ok(())
}

/// The next delivery of `s`; never, when it could not be installed.
#[cfg(unix)]
async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// A future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, not when the future is first polled: call it first thing, so that a
/// signal that comes while rules and models load (or before the server polls it) drains
/// the daemon instead of killing it with the default action. Must run inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, signal = name, "Cannot listen for the signal.");
                None
            }
        };
        let (mut term, mut int) =
            (listen(SignalKind::terminate(), "SIGTERM"), listen(SignalKind::interrupt(), "SIGINT"));
        async move {
            tokio::select! {
                _ = next_signal(&mut term) => {},
                _ = next_signal(&mut int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
