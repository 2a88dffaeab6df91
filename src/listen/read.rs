//! Slow request bodies: a body that has not arrived in full within
//! `server.request_read_timeout_ms` of its request's head fails with [`BodyTimedOut`], so a
//! client trickling it a byte at a time cannot hold a connection (HTTP/1.1) or a stream and a
//! handler (HTTP/2) for longer than that. Counted as
//! `cdssd_connections_refused_total{reason="request_read_timeout"}`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::{connection_refused, ConnRefusal, ListenerName};

/// The error a body yields when its time is up.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within server.request_read_timeout_ms ({0} ms)")]
pub struct BodyTimedOut(pub u64);

impl BodyTimedOut {
    /// Whether `e` failed because its body was late ([`BodyTimedOut`] somewhere in its
    /// source chain): how every route that reads a body tells "late" from "unreadable".
    pub fn caused(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if c.is::<BodyTimedOut>() {
                return true;
            }
            cause = c.source();
        }
        false
    }
}

/// Wraps request bodies of one listener with the read bound.
#[derive(Debug, Clone, Copy)]
pub struct ReadDeadline {
    pub limit: Duration,
    pub listener: ListenerName,
}

impl ReadDeadline {
    /// The request with its body bounded from now (its head has arrived).
    pub fn wrap<B>(&self, req: http::Request<B>) -> http::Request<ReadDeadlineBody<B>> {
        let (limit, listener) = (self.limit, self.listener);
        req.map(|inner| ReadDeadlineBody {
            inner: Box::pin(inner),
            timer: Some(Box::pin(tokio::time::sleep(limit))),
            failed: false,
            limit,
            listener,
        })
    }
}

/// A request body that fails once its time is up; see the module documentation.
pub struct ReadDeadlineBody<B> {
    inner: Pin<Box<B>>,
    /// `None` once the body ended or failed.
    timer: Option<Pin<Box<Sleep>>>,
    /// The time ran out: nothing more of this body is read.
    failed: bool,
    limit: Duration,
    listener: ListenerName,
}

impl<B> Body for ReadDeadlineBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let Some(timer) = this.timer.as_mut() else {
            return this.inner.as_mut().poll_frame(cx).map_err(Into::into);
        };
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                this.timer = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => {
                if r.is_err() || this.inner.is_end_stream() {
                    this.timer = None;
                }
                Poll::Ready(Some(r.map_err(Into::into)))
            }
            Poll::Pending => match timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    // Nothing more of this body is read: the stream (HTTP/2) or the
                    // connection (HTTP/1.1, its body unread) is given up.
                    this.timer = None;
                    this.failed = true;
                    connection_refused(this.listener, ConnRefusal::RequestReadTimeout);
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit.as_millis() as u64)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
