//! The connections of every listener (gRPC, HTTP, metrics): one accept loop with the
//! same protections for each.
//!
//! - TLS (`[tls]`) when configured: the handshake runs in its own task, bounded by
//!   `server.handshake_timeout_ms`, so a client that never finishes it holds nothing.
//! - A plaintext connection must send its first bytes within the same bound.
//! - A connection that sends nothing for `server.idle_timeout_s` is closed.
//! - At most `server.max_connections` are open; more are closed on accept.
//! - Accept errors (the fd limit) are logged and backed off, never spun on.
//! - Slow clients: a request's head and body must arrive within
//!   `server.request_read_timeout_ms` (`serve.rs` for the HTTP/1.1 listeners, `read.rs`
//!   for bodies on every listener), request heads are at most `server.max_header_bytes`,
//!   and the gRPC port's HTTP/2 streams, keepalive and header list are bounded
//!   (`server.http2_*`, applied in `server/`).
//!
//! Every refusal is counted in `cdssd_connections_refused_total{listener,reason}`;
//! nothing about a connection but its listener and the reason is logged.

mod read;
mod security;
mod serve;
pub mod tls;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::Sleep,
};

pub use read::{BodyTimedOut, ReadDeadline, ReadDeadlineBody};
pub use security::{Security, SecurityError};
pub use serve::serve_http1;
pub use tls::{Alpn, ServerTls, TlsError};

/// The connection limits of every listener (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub handshake: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    /// A request's head, and then its body, must arrive within this long.
    pub request_read: Duration,
    /// Largest request header block, bytes.
    pub max_header_bytes: u32,
    /// HTTP/2 streams open at once per connection.
    pub http2_max_streams: u32,
    /// HTTP/2 keepalive PING interval (`None`: off) and how long an answer may take.
    pub http2_keepalive: Option<Duration>,
    pub http2_keepalive_timeout: Duration,
}

impl Limits {
    /// From the validated settings.
    pub fn from_settings(s: &crate::config::ServerSettings) -> Self {
        Self {
            handshake: Duration::from_millis(s.handshake_timeout_ms),
            idle: Duration::from_secs(s.idle_timeout_s),
            max_connections: s.max_connections,
            request_read: Duration::from_millis(s.request_read_timeout_ms),
            max_header_bytes: s.max_header_bytes,
            http2_max_streams: s.http2_max_concurrent_streams,
            http2_keepalive: (s.http2_keepalive_interval_s > 0)
                .then(|| Duration::from_secs(s.http2_keepalive_interval_s)),
            http2_keepalive_timeout: Duration::from_secs(s.http2_keepalive_timeout_s),
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Decrements the listener's open-connection count when the connection ends.
struct Open {
    count: Arc<AtomicUsize>,
    listener: ListenerName,
}

impl Drop for Open {
    fn drop(&mut self) {
        let n = self.count.fetch_sub(1, Ordering::Relaxed) - 1;
        connections_open(self.listener, n);
    }
}

/// One accepted connection (TLS already established when configured).
pub struct Conn {
    io: Io,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    idle: Duration,
    /// Fires when nothing was read for too long (first: the handshake bound).
    timer: Pin<Box<Sleep>>,
    _open: Open,
}

impl Conn {
    /// The listener's address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match r {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let next = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(next);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The accepted connections of one listener; dropping it stops accepting.
pub struct Accepted {
    rx: mpsc::Receiver<Conn>,
    local: SocketAddr,
}

impl Accepted {
    /// The next connection; `None` once the accept loop has ended.
    pub async fn next(&mut self) -> Option<Conn> {
        self.rx.recv().await
    }

    /// The connections as a stream (tonic's `serve_with_incoming`).
    pub fn into_stream(self) -> tokio_stream::wrappers::ReceiverStream<Conn> {
        tokio_stream::wrappers::ReceiverStream::new(self.rx)
    }
}

impl axum::serve::Listener for Accepted {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => {
                let peer = c.remote.unwrap_or(self.local);
                (c, peer)
            }
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A warning at most once per `every` (accept errors and refusals come in floods).
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn warn(&mut self, listener: ListenerName, reason: ConnRefusal, detail: &dyn std::fmt::Display) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(10)) {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            listener = listener.label(),
            reason = reason.label(),
            detail = %detail,
            suppressed = self.suppressed,
            "connection refused"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Start accepting on `listener`: TLS with `tls` when given, within `limits`.
pub fn accept(
    listener: TcpListener,
    tls: Option<(Arc<ServerTls>, Alpn)>,
    limits: Limits,
    name: ListenerName,
) -> io::Result<Accepted> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel::<Conn>(64);
    let open = Arc::new(AtomicUsize::new(0));
    connections_open(name, 0);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(5);
        let mut throttle = Throttle { last: None, suppressed: 0 };
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(5);
                    a
                }
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning on the error.
                    connection_refused(name, ConnRefusal::AcceptError);
                    throttle.warn(name, ConnRefusal::AcceptError, &e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            if open.load(Ordering::Relaxed) >= limits.max_connections {
                connection_refused(name, ConnRefusal::Limit);
                throttle.warn(name, ConnRefusal::Limit, &format_args!("{} open", limits.max_connections));
                drop(tcp);
                continue;
            }
            let n = open.fetch_add(1, Ordering::Relaxed) + 1;
            connections_open(name, n);
            let guard = Open { count: open.clone(), listener: name };
            let _ = tcp.set_nodelay(true);
            let local_addr = tcp.local_addr().ok();
            match &tls {
                None => {
                    let conn = Conn {
                        io: Io::Plain(tcp),
                        local: local_addr,
                        remote: Some(remote),
                        idle: limits.idle,
                        timer: Box::pin(tokio::time::sleep(limits.handshake)),
                        _open: guard,
                    };
                    if tx.send(conn).await.is_err() {
                        return;
                    }
                }
                Some((server_tls, alpn)) => {
                    let acceptor = server_tls.acceptor(*alpn);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                let conn = Conn {
                                    io: Io::Tls(Box::new(stream)),
                                    local: local_addr,
                                    remote: Some(remote),
                                    idle: limits.idle,
                                    timer: Box::pin(tokio::time::sleep(limits.idle)),
                                    _open: guard,
                                };
                                let _ = tx.send(conn).await;
                            }
                            Ok(Err(e)) => {
                                connection_refused(name, ConnRefusal::Handshake);
                                tracing::debug!(listener = name.label(), error = %e, "TLS handshake failed");
                            }
                            Err(_) => {
                                connection_refused(name, ConnRefusal::HandshakeTimeout);
                                tracing::debug!(listener = name.label(), "TLS handshake timed out");
                            }
                        }
                    });
                }
            }
        }
    });
    Ok(Accepted { rx, local })
}

/// The listeners, as `cdssd_connections_*{listener}` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerName {
    Grpc,
    Http,
    Metrics,
}

impl ListenerName {
    pub const ALL: [ListenerName; 3] = [ListenerName::Grpc, ListenerName::Http, ListenerName::Metrics];

    pub fn label(self) -> &'static str {
        match self {
            ListenerName::Grpc => "grpc",
            ListenerName::Http => "http",
            ListenerName::Metrics => "metrics",
        }
    }
}

/// Why a connection was closed before serving: `cdssd_connections_refused_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefusal {
    /// `server.max_connections` were open.
    Limit,
    /// `accept` failed (e.g. the process is out of file descriptors).
    AcceptError,
    /// The TLS handshake failed (no or bad client certificate, not TLS, protocol error).
    Handshake,
    /// The TLS handshake took longer than `server.handshake_timeout_ms`.
    HandshakeTimeout,
    /// A request's head or body did not arrive within `server.request_read_timeout_ms`.
    RequestReadTimeout,
    /// An HTTP/1.1 request head was larger than `server.max_header_bytes`.
    HeaderTooLarge,
}

impl ConnRefusal {
    pub const ALL: [ConnRefusal; 6] = [
        ConnRefusal::Limit,
        ConnRefusal::AcceptError,
        ConnRefusal::Handshake,
        ConnRefusal::HandshakeTimeout,
        ConnRefusal::RequestReadTimeout,
        ConnRefusal::HeaderTooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ConnRefusal::Limit => "limit",
            ConnRefusal::AcceptError => "accept_error",
            ConnRefusal::Handshake => "handshake",
            ConnRefusal::HandshakeTimeout => "handshake_timeout",
            ConnRefusal::RequestReadTimeout => "request_read_timeout",
            ConnRefusal::HeaderTooLarge => "header_too_large",
        }
    }
}

/// A connection closed before it was served (or a request cut off while it was read).
fn connection_refused(listener: ListenerName, reason: ConnRefusal) {
    metrics::counter!("cdssd_connections_refused_total", "listener" => listener.label(), "reason" => reason.label())
        .increment(1);
}

/// Connections open on `listener`.
fn connections_open(listener: ListenerName, n: usize) {
    metrics::gauge!("cdssd_connections_open", "listener" => listener.label()).set(n as f64);
}
