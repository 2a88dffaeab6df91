//! A gRPC server stream re-framed as a Connect stream, message by message as they come
//! (the first `EvaluateStream` update is not held back for the draft): each gRPC frame
//! becomes an envelope (re-encoded as JSON for `application/connect+json`), and the gRPC
//! trailers become the end-stream message `{"error": ..., "metadata": ...}`.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame};

use super::{frames, status, Codec};

/// The end-stream message: the error, if the call failed, and the trailers as metadata.
pub fn end_stream(trailers: &HeaderMap) -> Bytes {
    let mut end = serde_json::json!({});
    match tonic::Status::from_header_map(trailers) {
        Some(s) if s.code() != tonic::Code::Ok => end["error"] = status::error_json(&s),
        Some(_) => {}
        None => {
            let s = tonic::Status::internal("the stream ended without a status");
            end["error"] = status::error_json(&s);
        }
    }
    let metadata = super::metadata(trailers);
    if !metadata.is_empty() {
        end["metadata"] =
            serde_json::Value::Object(metadata.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect());
    }
    frames::frame(frames::END_STREAM, end.to_string().as_bytes())
}

/// The Connect body over the gRPC one.
pub struct ConnectStream {
    inner: tonic::body::Body,
    buf: BytesMut,
    codec: Codec,
    to_json: fn(&[u8]) -> Result<Vec<u8>, String>,
    done: bool,
}

impl ConnectStream {
    pub fn new(inner: tonic::body::Body, codec: Codec, to_json: fn(&[u8]) -> Result<Vec<u8>, String>) -> Self {
        Self { inner, buf: BytesMut::new(), codec, to_json, done: false }
    }

    /// The envelope of one gRPC frame, or the end of the stream with an internal error.
    fn envelope(&mut self, flags: u8, message: Bytes) -> Bytes {
        if flags & frames::COMPRESSED != 0 {
            // The gRPC request never offers an encoding, so the server never compresses.
            return self.fail("the server sent a compressed message it was not asked for");
        }
        match self.codec {
            Codec::Proto => frames::frame(0, &message),
            Codec::Json => match (self.to_json)(&message) {
                Ok(json) => frames::frame(0, &json),
                Err(e) => self.fail(&e),
            },
        }
    }

    fn fail(&mut self, why: &str) -> Bytes {
        tracing::error!(reason = why, "Connect stream cut short.");
        self.done = true;
        let mut t = HeaderMap::new();
        t.insert("grpc-status", http::HeaderValue::from_static("13"));
        if let Ok(v) = http::HeaderValue::from_str(why) {
            t.insert("grpc-message", v);
        }
        end_stream(&t)
    }
}

impl Body for ConnectStream {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some((flags, message)) = frames::next(&mut this.buf) {
                return Poll::Ready(Some(Ok(Frame::data(this.envelope(flags, message)))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.buf.extend_from_slice(&data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.done = true;
                            return Poll::Ready(Some(Ok(Frame::data(end_stream(&trailers)))));
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    let why = format!("the response stream failed: {}", e.message());
                    return Poll::Ready(Some(Ok(Frame::data(this.fail(&why)))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(Frame::data(end_stream(&HeaderMap::new())))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
