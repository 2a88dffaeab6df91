//! Transport limits (issue 17 item 3) over real sockets against the real daemon: slow
//! clients are cut off after `server.request_read_timeout_ms` while others are served,
//! HTTP/2 streams and header blocks are bounded, oversized heads get 431, and a peer that
//! stops answering keepalive PINGs is dropped. Raw bytes on the wire, so that the client
//! never helps (a library client would respect the limits it was told).

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::daemon::{request, Daemon};
use crate::web::to_json;
use cdssd::proto::v1 as pb;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Read until the peer closes (EOF or reset); `Some(elapsed)` when that came within `bound`.
async fn closed_within(s: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
    .map(|()| start.elapsed())
}

/// Send `bytes` one at a time, `gap` apart, until the server closes: `(sent, elapsed)`, or
/// `None` when all were sent and the connection is still open.
async fn trickle(s: &mut TcpStream, bytes: &[u8], gap: Duration) -> Option<(usize, Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for (i, b) in bytes.iter().enumerate() {
        if s.write_all(&[*b]).await.is_err() {
            return Some((i, start.elapsed(), got));
        }
        match tokio::time::timeout(gap, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some((i + 1, start.elapsed(), got)),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                // An answer: wait for the close that follows it.
                if closed_within(s, Duration::from_secs(2)).await.is_some() {
                    return Some((i + 1, start.elapsed(), got));
                }
                return None;
            }
            Err(_) => {}
        }
    }
    None
}

/// A complete POST /v1/evaluate over HTTP/1.1: the status line.
async fn post_evaluate(addr: std::net::SocketAddr) -> String {
    let body = to_json(&request("stemi_primary_pci.json", pb::Trigger::Admission));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await.expect("answered").unwrap();
    String::from_utf8_lossy(&raw).lines().next().unwrap_or("").to_string()
}

fn refused(scrape: &crate::daemon::Scrape, listener: &str, reason: &str) -> f64 {
    scrape.get(&format!("cdssd_connections_refused_total{{listener=\"{listener}\",reason=\"{reason}\"}}"))
}

#[tokio::test]
async fn a_client_trickling_its_request_is_cut_off_within_the_bound_while_others_are_served() {
    let d = Daemon::start(&[
        ("CDSSD__HTTP__LISTEN", "127.0.0.1:0"),
        ("CDSSD__SERVER__REQUEST_READ_TIMEOUT_MS", "1000"),
        ("CDSSD__SERVER__IDLE_TIMEOUT_S", "60"),
    ]);
    let http = d.http_addr();
    let gap = Duration::from_millis(200);

    // The head, one byte per 200 ms: never idle, but not done within 1 s.
    let head_trickler = tokio::spawn(async move {
        let mut s = TcpStream::connect(http).await.unwrap();
        let head = b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        trickle(&mut s, head, gap).await
    });
    // The head at once, the body one byte per 200 ms.
    let body_trickler = tokio::spawn(async move {
        let mut s = TcpStream::connect(http).await.unwrap();
        s.write_all(
            b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        )
        .await
        .unwrap();
        trickle(&mut s, &[b' '; 200], gap).await
    });
    // Meanwhile a normal client on the same daemon, on both ports, is answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post_evaluate(http).await, "HTTP/1.1 200 OK");
    let mut grpc = d.client().await;
    grpc.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("gRPC answered");

    let (sent, took, _) = head_trickler.await.unwrap().expect("the head trickler is disconnected");
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(4), "{sent} bytes, {took:?}");
    let (sent, took, got) = body_trickler.await.unwrap().expect("the body trickler is disconnected");
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(4), "{sent} bytes, {took:?}");
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("server.request_read_timeout_ms"), "{answer}");

    let scrape = d.scrape().await;
    assert_eq!(refused(&scrape, "http", "request_read_timeout"), 2.0, "{}", scrape.text);
    assert_eq!(post_evaluate(http).await, "HTTP/1.1 200 OK", "still serving");
}

/// A late body is the same answer on every HTTP route: 408 with the setting named, on the
/// CDS Hooks service as on `POST /v1/evaluate` (it got 400 INVALID_ARGUMENT before), and
/// not counted as a refused body (it is counted where the listener cut it off).
#[tokio::test]
async fn a_late_cds_hooks_body_gets_408_like_evaluate() {
    let d =
        Daemon::start(&[("CDSSD__HTTP__LISTEN", "127.0.0.1:0"), ("CDSSD__SERVER__REQUEST_READ_TIMEOUT_MS", "1000")]);
    let http = d.http_addr();
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(
        b"POST /cds-services/patient-view HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
    )
    .await
    .unwrap();
    let (sent, took, got) =
        trickle(&mut s, &[b' '; 200], Duration::from_millis(200)).await.expect("the body trickler is disconnected");
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(4), "{sent} bytes, {took:?}");
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("DEADLINE_EXCEEDED") && answer.contains("server.request_read_timeout_ms"), "{answer}");
    let scrape = d.scrape().await;
    assert_eq!(refused(&scrape, "http", "request_read_timeout"), 1.0, "{}", scrape.text);
    let body_refusals = r#"cdssd_http_refused_requests_total{route="cds_hooks",reason="unreadable"}"#;
    assert_eq!(scrape.get(body_refusals), 0.0, "{}", scrape.text);
    assert_eq!(post_evaluate(http).await, "HTTP/1.1 200 OK", "still serving");
}

#[tokio::test]
async fn an_oversized_request_head_gets_431_not_a_hang() {
    let d = Daemon::start(&[("CDSSD__HTTP__LISTEN", "127.0.0.1:0"), ("CDSSD__SERVER__MAX_HEADER_BYTES", "4096")]);
    let mut s = TcpStream::connect(d.http_addr()).await.unwrap();
    let head = format!("POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(6000));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await.expect("answered, not hung").ok();
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Below the bound the same head is served.
    let mut s = TcpStream::connect(d.http_addr()).await.unwrap();
    let head =
        format!("GET /cds-services HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "a".repeat(3000));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await.expect("answered").ok();
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&raw));
    let scrape = d.scrape().await;
    assert_eq!(refused(&scrape, "http", "header_too_large"), 1.0, "{}", scrape.text);
}

/// One HTTP/2 frame: (type, flags, stream, payload).
type Frame = (u8, u8, u32, Vec<u8>);

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Frame> {
    let mut h = [0u8; 9];
    s.read_exact(&mut h).await?;
    let n = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
    let mut payload = vec![0u8; n];
    s.read_exact(&mut payload).await?;
    Ok((h[3], h[4], u32::from_be_bytes([h[5] & 0x7f, h[6], h[7], h[8]]), payload))
}

/// HPACK integer with a 7-bit prefix.
fn hpack_int(v: usize, out: &mut Vec<u8>) {
    if v < 127 {
        out.push(v as u8);
        return;
    }
    out.push(127);
    let mut v = v - 127;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// A request header block: every field a literal without indexing (no Huffman).
fn header_block(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let base = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/cdss.v1.CdsService/Evaluate"),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    for (name, value) in base.iter().chain(extra) {
        out.push(0);
        hpack_int(name.len(), &mut out);
        out.extend_from_slice(name.as_bytes());
        hpack_int(value.len(), &mut out);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Preface and SETTINGS exchanged: the server's SETTINGS parameters.
async fn h2_connect(addr: std::net::SocketAddr) -> (TcpStream, Vec<(u16, u32)>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    s.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    let settings = loop {
        let (kind, flags, _, payload) =
            tokio::time::timeout(Duration::from_secs(5), read_frame(&mut s)).await.expect("SETTINGS").unwrap();
        if kind == 0x4 && flags & 1 == 0 {
            break payload
                .chunks(6)
                .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
                .collect::<Vec<_>>();
        }
    };
    s.write_all(&frame(0x4, 1, 0, &[])).await.unwrap();
    (s, settings)
}

#[tokio::test]
async fn http2_streams_and_header_lists_are_bounded_and_a_stalled_body_is_answered() {
    let d = Daemon::start(&[
        ("CDSSD__SERVER__HTTP2_MAX_CONCURRENT_STREAMS", "2"),
        ("CDSSD__SERVER__MAX_HEADER_BYTES", "4096"),
        ("CDSSD__SERVER__REQUEST_READ_TIMEOUT_MS", "1000"),
        ("CDSSD__SERVER__IDLE_TIMEOUT_S", "60"),
    ]);
    let (mut s, settings) = h2_connect(d.grpc_addr()).await;
    assert!(settings.contains(&(0x3, 2)), "SETTINGS_MAX_CONCURRENT_STREAMS = 2: {settings:?}");
    assert!(settings.contains(&(0x6, 4096)), "SETTINGS_MAX_HEADER_LIST_SIZE = 4096: {settings:?}");

    // Three streams opened, none with a body yet: the third is refused at once.
    let start = Instant::now();
    for id in [1u32, 3, 5] {
        s.write_all(&frame(0x1, 0x4, id, &header_block(&[]))).await.unwrap();
    }
    let (mut refused_5, mut answered) = (None, Vec::new());
    while answered.len() < 2 || refused_5.is_none() {
        let (kind, flags, id, payload) = tokio::time::timeout(Duration::from_secs(4), read_frame(&mut s))
            .await
            .unwrap_or_else(|_| panic!("answers: refused {refused_5:?}, {answered:?}"))
            .expect("connection open");
        match (kind, id) {
            (0x3, 5) => {
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                refused_5 = Some((code, start.elapsed()))
            }
            // The two admitted streams: a body that never comes is answered after the bound.
            (0x1, 1 | 3) if flags & 0x1 != 0 => answered.push((id, start.elapsed())),
            _ => {}
        }
    }
    let (code, at) = refused_5.unwrap();
    assert_eq!(code, 0x7, "REFUSED_STREAM");
    assert!(at < Duration::from_millis(800), "refused at once: {at:?}");
    for (id, at) in &answered {
        assert!(*at >= Duration::from_millis(800) && *at < Duration::from_secs(4), "stream {id}: {at:?}");
    }

    // With the slots free, a header block over the bound: 431 for that stream, not a hang.
    let big = "a".repeat(6000);
    s.write_all(&frame(0x1, 0x4, 7, &header_block(&[("x-big", &big)]))).await.unwrap();
    let status = loop {
        let (kind, _, id, payload) = tokio::time::timeout(Duration::from_secs(4), read_frame(&mut s))
            .await
            .expect("an answer to the oversized header block")
            .expect("connection open");
        if kind == 0x1 && id == 7 {
            break payload;
        }
    };
    // `:status` (static index 8) with the value "431", plain or Huffman-coded (RFC 7541 App. B:
    // '4' 011010, '3' 011001, '1' 00001, padded with 1s: 0x69 0x90 0xff).
    let plain = status.windows(4).any(|w| w == b"\x03431");
    let huffman = status.windows(4).any(|w| w == [0x83, 0x69, 0x90, 0xff]);
    assert!(status.first().is_some_and(|b| b & 0x0f == 8) && (plain || huffman), "HTTP 431: {status:?}");
    let scrape = d.scrape().await;
    assert_eq!(refused(&scrape, "grpc", "request_read_timeout"), 2.0, "{}", scrape.text);
    // The daemon still serves.
    d.client()
        .await
        .evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission))
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("served");
}

#[tokio::test]
async fn a_peer_that_stops_answering_keepalive_pings_is_dropped() {
    let d = Daemon::start(&[
        ("CDSSD__SERVER__HTTP2_KEEPALIVE_INTERVAL_S", "1"),
        ("CDSSD__SERVER__HTTP2_KEEPALIVE_TIMEOUT_S", "1"),
        ("CDSSD__SERVER__IDLE_TIMEOUT_S", "60"),
    ]);
    // One peer answers every PING, the other none.
    let (mut live, _) = h2_connect(d.grpc_addr()).await;
    let (mut dead, _) = h2_connect(d.grpc_addr()).await;
    let start = Instant::now();
    let answering = tokio::spawn(async move {
        let mut pings = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), read_frame(&mut live)).await {
                Ok(Ok((0x6, flags, _, payload))) if flags & 1 == 0 => {
                    pings += 1;
                    live.write_all(&frame(0x6, 1, 0, &payload)).await.unwrap();
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return (pings, false),
                Err(_) => return (pings, true),
            }
            if start.elapsed() > Duration::from_secs(5) {
                return (pings, true);
            }
        }
    });
    let mut pinged = false;
    let dropped = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match read_frame(&mut dead).await {
                Ok((0x6, flags, _, _)) if flags & 1 == 0 => pinged = true,
                Ok(_) => {}
                Err(_) => return start.elapsed(),
            }
        }
    })
    .await;
    assert!(pinged, "the server pinged");
    let at = dropped.expect("the silent peer is dropped");
    assert!(at < Duration::from_secs(4), "{at:?}");
    let (pings, open) = answering.await.unwrap();
    assert!(pings >= 2 && open, "the answering peer stays connected: {pings} pings, open {open}");
}
