//! Length-prefixed messages: gRPC frames and Connect envelopes share one layout
//! (a flags byte, a 4-byte big-endian length, the message), so one reader and one
//! writer serve both. The flags differ: gRPC's bit 0 and Connect's bit 0 mean
//! "compressed"; Connect's bit 1 marks the end-stream message.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Connect envelope flag: the payload is compressed with `connect-content-encoding`.
pub const COMPRESSED: u8 = 0x01;
/// Connect envelope flag: the end-stream message (JSON, never compressed here).
pub const END_STREAM: u8 = 0x02;

/// One message with its flags.
pub fn frame(flags: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(flags);
    b.put_u32(u32::try_from(payload.len()).expect("messages are bounded far below 4 GiB"));
    b.put_slice(payload);
    b.freeze()
}

/// The next complete message at the front of `buf` (removed from it), if it has arrived.
pub fn next(buf: &mut BytesMut) -> Option<(u8, Bytes)> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < 5 + len {
        return None;
    }
    let flags = buf[0];
    buf.advance(5);
    Some((flags, buf.split_to(len).freeze()))
}

/// The one message a body must hold exactly (a Connect streaming request, a gRPC unary
/// response), or what is wrong with it.
pub fn single(body: &[u8]) -> Result<(u8, Bytes), &'static str> {
    let mut buf = BytesMut::from(body);
    let Some((flags, payload)) = next(&mut buf) else {
        return Err("the body is not one length-prefixed message (flags byte, 4-byte length, message)");
    };
    if !buf.is_empty() {
        return Err("the body holds more than one message; this method takes one request");
    }
    Ok((flags, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_partial_ones_wait() {
        let f = frame(END_STREAM, b"{}");
        assert_eq!(&f[..], &[2, 0, 0, 0, 2, b'{', b'}']);
        let mut buf = BytesMut::from(&f[..4]);
        assert_eq!(next(&mut buf), None);
        buf.extend_from_slice(&f[4..]);
        buf.extend_from_slice(&frame(0, b"x")[..3]);
        assert_eq!(next(&mut buf), Some((END_STREAM, Bytes::from_static(b"{}"))));
        assert_eq!(next(&mut buf), None);
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn a_request_is_exactly_one_message() {
        assert_eq!(single(&frame(0, b"abc")).unwrap(), (0, Bytes::from_static(b"abc")));
        assert!(single(b"{\"a\":1}").is_err());
        let mut two = frame(0, b"a").to_vec();
        two.extend_from_slice(&frame(0, b"b"));
        assert!(single(&two).is_err());
        assert!(single(&frame(0, b"abc")[..6]).is_err());
    }
}
