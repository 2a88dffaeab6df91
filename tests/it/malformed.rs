//! Malformed input never gets INTERNAL: undecodable protobuf is INVALID_ARGUMENT with a
//! clear message, an oversize message RESOURCE_EXHAUSTED with the limit and a QuotaFailure,
//! both counted; error details stay under 8 KiB (capped violations, "+N more"). Raw bytes
//! are sent over a real HTTP/2 gRPC connection to the real daemon.

use bytes::{Buf, BufMut};
use cdssd::proto::v1 as pb;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::daemon::{request, Daemon};

/// Sends the bytes as they are and returns what comes back as bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let v = buf.chunk().to_vec();
        buf.advance(v.len());
        Ok(Some(v))
    }
}

async fn send(channel: &tonic::transport::Channel, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/cdss.v1.CdsService/Evaluate");
    grpc.unary(tonic::Request::new(body), path, Raw).await.map(|r| r.into_inner())
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test]
async fn malformed_input_never_gets_internal() {
    let daemon = Daemon::start(&[]);
    let channel = tonic::transport::Endpoint::from_shared(daemon.grpc_url()).unwrap().connect().await.unwrap();
    let valid = request("stemi_primary_pci.json", pb::Trigger::Admission).encode_to_vec();

    // Hand-made undecodable bodies: invalid UTF-8 in a string, a truncated message, a bogus length.
    let mut bad_utf8 = Vec::new();
    let enc = [0x0a, 0x02, 0xff, 0xfe]; // Encounter.id = <invalid UTF-8>
    bad_utf8.extend([0x0a, enc.len() as u8]);
    bad_utf8.extend(enc);
    let truncated = valid[..valid.len() / 2].to_vec();
    let bogus_length = vec![0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01];
    for (what, body) in [("invalid UTF-8", bad_utf8), ("truncated", truncated), ("bogus length", bogus_length)] {
        let s = send(&channel, body).await.expect_err(what);
        assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
        assert!(s.message().contains("not a valid protobuf encoding"), "{what}: {}", s.message());
    }

    // Mutation fuzzing: random bytes flipped / cut / random bodies; count the outcomes.
    let mut rng = Rng(0x5eed_cafe_f00d_u64);
    let (mut ok, mut invalid, mut other) = (0, 0, Vec::new());
    const MUTANTS: usize = 300;
    for i in 0..MUTANTS {
        let mut body = valid.clone();
        match i % 3 {
            0 => {
                for _ in 0..1 + rng.next() % 8 {
                    let at = (rng.next() as usize) % body.len();
                    body[at] ^= 1 << (rng.next() % 8);
                }
            }
            1 => body.truncate((rng.next() as usize) % body.len()),
            _ => body = (0..1 + rng.next() % 512).map(|_| rng.next() as u8).collect(),
        }
        match send(&channel, body).await {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::InvalidArgument => invalid += 1,
            Err(s) => other.push(format!("{:?}: {}", s.code(), s.message())),
        }
    }
    println!("malformed: {MUTANTS} mutated bodies: {ok} OK, {invalid} INVALID_ARGUMENT, {} other", other.len());
    assert!(other.is_empty(), "only OK or INVALID_ARGUMENT: {other:?}");

    // Oversize: 5 MB against the 4 MiB default.
    let big = pb::EvaluateRequest {
        encounter: Some(pb::Encounter { id: "x".repeat(5 << 20), ..Default::default() }),
        ..Default::default()
    };
    let s = send(&channel, big.encode_to_vec()).await.expect_err("too large");
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    assert!(s.message().contains("over the server's limit of 4194304 bytes"), "{}", s.message());
    let quota = s.get_details_quota_failure().expect("QuotaFailure details");
    assert_eq!(quota.violations[0].subject, "server.max_request_bytes");

    // The reviewer's 2 MB trailer: 1,500 labs in an unknown unit with a long unit text.
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Admission);
    let enc = req.encounter.as_mut().unwrap();
    let template = enc.labs[0].clone();
    enc.labs = (0..1500)
        .map(|i| {
            let mut l = template.clone();
            l.id = format!("lab-{i}");
            if let Some(pb::observation::Value::Quantity(q)) = l.value.as_mut() {
                q.unit = format!("{}{i}", "u".repeat(900));
            }
            l
        })
        .collect();
    let mut client = daemon.client().await;
    let s = client.evaluate(req).await.expect_err("invalid");
    assert_eq!(s.code(), Code::InvalidArgument, "a stock client sees the violations: {s:?}");
    let details = s.details().len();
    let violations = s.get_details_bad_request().expect("BadRequest").field_violations;
    println!(
        "malformed: 1500 bad labs -> {} violations listed, grpc-status-details-bin {details} bytes",
        violations.len()
    );
    assert!(details < 8 * 1024, "{details} bytes of details");
    let last = violations.last().unwrap();
    assert!(last.description.starts_with('+') && last.description.contains("more"), "{last:?}");

    let scrape = daemon.scrape().await;
    let undecodable = scrape.get("cdssd_grpc_malformed_requests_total{reason=\"undecodable\"}");
    assert!(undecodable >= 3.0, "counted: {undecodable}");
    assert_eq!(scrape.get("cdssd_grpc_malformed_requests_total{reason=\"too_large\"}"), 1.0);
    let (_, logs) = daemon.stop_with_logs();
    let refused = logs.iter().filter(|l| l.contains("Request refused by the transport.")).count();
    assert!(refused as f64 >= undecodable, "each is logged: {refused} lines for {undecodable}");
    assert!(logs.iter().all(|l| !l.contains("uuuuuuuu")), "no payload in the logs");
}
