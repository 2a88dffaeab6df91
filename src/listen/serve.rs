//! HTTP/1.1 serving of the HTTP and metrics listeners (axum's own `serve` sets no header
//! read bound and no head size): each request head must arrive within
//! `server.request_read_timeout_ms` of its first byte and be at most
//! `server.max_header_bytes` (larger: 431 and the connection closed), each body within the
//! same bound of its head ([`super::ReadDeadline`]). Graceful shutdown: stop accepting, let
//! the connections finish their requests.

use std::future::Future;

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tower::ServiceExt;

use super::{connection_refused, Accepted, ConnRefusal, Limits, ListenerName, ReadDeadline};

/// Serve `app` on the connections of `accepted` until `shutdown` resolves, then wait for the
/// open connections to finish.
pub async fn serve_http1(
    mut accepted: Accepted,
    app: axum::Router,
    limits: Limits,
    name: ListenerName,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_read)
        .max_header_size(limits.max_header_bytes as usize)
        .keep_alive(true);
    let deadline = ReadDeadline { limit: limits.request_read, listener: name };
    // `stop` tells the connections to finish; every connection holds a `done` receiver.
    let stop = tokio_util::sync::CancellationToken::new();
    let (done, finished) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            c = accepted.next() => match c { Some(c) => c, None => break },
            _ = &mut shutdown => break,
        };
        let svc = app
            .clone()
            .map_request(move |r: http::Request<hyper::body::Incoming>| deadline.wrap(r).map(axum::body::Body::new));
        let conn = builder.serve_connection(TokioIo::new(conn), TowerToHyperService::new(svc));
        let stopping = stop.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopping.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                if e.is_timeout() {
                    connection_refused(name, ConnRefusal::RequestReadTimeout);
                } else if e.is_parse_too_large() {
                    connection_refused(name, ConnRefusal::HeaderTooLarge);
                }
                tracing::debug!(listener = name.label(), error = %e, "connection ended with an error");
            }
            drop(finished);
        });
    }
    drop(accepted);
    stop.cancel();
    drop(finished);
    done.closed().await;
    Ok(())
}
