//! Connections that can be cut when the drain grace period runs out.
//!
//! tonic serves each connection in its own task, so returning from
//! [`super::run`] alone would leave abandoned requests running. Every accepted
//! socket is wrapped in a [`DrainableStream`] that fails its reads and writes
//! once the shared token is cancelled: hyper then closes the connection and
//! drops the request futures, and clients get an error instead of a hang.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::listen::{Accepted, Conn};

/// A connection that errors out once `cut` is cancelled.
pub struct DrainableStream {
    inner: Conn,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl DrainableStream {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cut.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "drain grace period elapsed")),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for DrainableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DrainableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for DrainableStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        TcpConnectInfo { local_addr: self.inner.local_addr(), remote_addr: self.inner.remote_addr() }
    }
}

/// The accepted connections, each cut when `cut` is cancelled.
pub fn incoming(
    accepted: Accepted,
    cut: CancellationToken,
) -> impl Stream<Item = io::Result<DrainableStream>> + Send + 'static {
    accepted.into_stream().map(move |inner| Ok(DrainableStream { inner, cut: Box::pin(cut.clone().cancelled_owned()) }))
}
