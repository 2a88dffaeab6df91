//! The tonic client side: N connections, closed-loop (max throughput) and
//! open-loop (fixed rate) drivers, latency in HdrHistograms.
//!
//! Open loop: request i is due at `start + i / rate`; its latency is measured
//! from that intended send time, not from when it was actually sent, so a
//! stalled server cannot hide its queueing delay (no coordinated omission).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};
use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

/// Which RPC a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    /// `Evaluate`; latency of the whole call.
    Unary,
    /// `EvaluateStream`; `latency` is the first message, `total` the end of the
    /// stream (streams are dropped `stream_hold` after their first message).
    Stream,
}

/// What one run measured.
pub struct RunStats {
    /// Microseconds: unary call, or first stream message.
    pub latency: Histogram<u64>,
    /// Microseconds to the end of a stream (streams only).
    pub total: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Measurement window.
    pub window: Duration,
    /// Bytes of the responses (unary) or first messages (stream) received.
    pub resp_bytes: u64,
    /// Streams whose SUGGESTION arrived.
    pub drafts: u64,
}

impl RunStats {
    fn new(window: Duration) -> Self {
        Self { latency: hist(), total: hist(), ok: 0, errors: BTreeMap::new(), window, resp_bytes: 0, drafts: 0 }
    }

    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn add(&mut self, o: Outcome) {
        match o.result {
            Ok((bytes, total, draft)) => {
                self.ok += 1;
                self.resp_bytes += bytes as u64;
                let _ = self.latency.record(o.latency.as_micros().max(1) as u64);
                if let Some(t) = total {
                    let _ = self.total.record(t.as_micros().max(1) as u64);
                }
                self.drafts += u64::from(draft);
            }
            Err(code) => *self.errors.entry(code).or_default() += 1,
        }
    }

    fn merge(&mut self, other: RunStats) {
        let _ = self.latency.add(&other.latency);
        let _ = self.total.add(&other.total);
        self.ok += other.ok;
        self.resp_bytes += other.resp_bytes;
        self.drafts += other.drafts;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// 1 µs .. 120 s, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// One request's result: (response bytes, time to end of stream, draft seen) or the gRPC code.
struct Outcome {
    latency: Duration,
    result: Result<(usize, Option<Duration>, bool), String>,
}

/// `n` separate HTTP/2 connections to `addr`.
pub async fn connect(addr: &str, n: usize) -> anyhow::Result<Vec<CdsServiceClient<Channel>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        out.push(CdsServiceClient::new(ch).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20));
    }
    Ok(out)
}

/// Shared run parameters.
#[derive(Clone)]
pub struct Load {
    pub requests: Arc<Vec<pb::EvaluateRequest>>,
    pub rpc: Rpc,
    pub warmup: Duration,
    pub duration: Duration,
    /// Per-request deadline (sent as grpc-timeout).
    pub timeout: Duration,
    /// Streams: how long to keep reading after the first message.
    pub stream_hold: Duration,
}

async fn call(mut client: CdsServiceClient<Channel>, req: pb::EvaluateRequest, load: &Load, due: Instant) -> Outcome {
    let mut r = tonic::Request::new(req);
    r.set_timeout(load.timeout);
    let result = match load.rpc {
        Rpc::Unary => match client.evaluate(r).await {
            Ok(resp) => Ok((prost::Message::encoded_len(resp.get_ref()), None, false)),
            Err(s) => Err(format!("{:?}", s.code())),
        },
        Rpc::Stream => match client.evaluate_stream(r).await {
            Err(s) => Err(format!("{:?}", s.code())),
            Ok(resp) => {
                let mut stream = resp.into_inner();
                match stream.message().await {
                    Ok(Some(first)) => {
                        let latency = due.elapsed();
                        let bytes = prost::Message::encoded_len(&first);
                        let mut draft = false;
                        let rest = tokio::time::timeout(load.stream_hold, async {
                            while let Ok(Some(m)) = stream.message().await {
                                draft |= m.kind() == pb::UpdateKind::Suggestion;
                            }
                        })
                        .await;
                        let total = rest.is_ok().then(|| due.elapsed());
                        return Outcome { latency, result: Ok((bytes, total, draft)) };
                    }
                    Ok(None) => Err("EmptyStream".into()),
                    Err(s) => Err(format!("{:?}", s.code())),
                }
            }
        },
    };
    Outcome { latency: due.elapsed(), result }
}

/// Max throughput: `per_conn` requests in flight on each connection, back to back.
pub async fn closed_loop(clients: &[CdsServiceClient<Channel>], per_conn: usize, load: &Load) -> RunStats {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let (from, to) = (t0 + load.warmup, t0 + load.warmup + load.duration);
    let mut tasks = Vec::new();
    for c in clients {
        for _ in 0..per_conn {
            let (c, next, load) = (c.clone(), next.clone(), load.clone());
            tasks.push(tokio::spawn(async move {
                let mut stats = RunStats::new(load.duration);
                loop {
                    let sent = Instant::now();
                    if sent >= to {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed) % load.requests.len();
                    let o = call(c.clone(), load.requests[i].clone(), &load, sent).await;
                    if sent >= from && Instant::now() <= to {
                        stats.add(o);
                    }
                }
                stats
            }));
        }
    }
    let mut all = RunStats::new(load.duration);
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all
}

/// Fixed rate: `rate` requests/s spread round-robin over the connections.
pub async fn open_loop(clients: &[CdsServiceClient<Channel>], rate: f64, load: &Load) -> RunStats {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let t0 = Instant::now();
    let (from, to) = (t0 + load.warmup, t0 + load.warmup + load.duration);
    let collector = tokio::spawn(async move {
        let mut s = RunStats::new(Duration::ZERO);
        while let Some(o) = rx.recv().await {
            s.add(o);
        }
        s
    });
    let mut i = 0usize;
    let mut due = t0;
    let mut tasks = Vec::new();
    while due < to {
        let now = Instant::now();
        while due <= now && due < to {
            let (c, load) = (clients[i % clients.len()].clone(), load.clone());
            let req = load.requests[i % load.requests.len()].clone();
            let tx = (due >= from).then(|| tx.clone());
            tasks.push(tokio::spawn(async move {
                let o = call(c, req, &load, due).await;
                if let Some(tx) = tx {
                    let _ = tx.send(o);
                }
            }));
            i += 1;
            due = t0 + interval.mul_f64(i as f64);
        }
        tokio::time::sleep_until(due.into()).await;
    }
    drop(tx);
    // Warm-up requests too: none may still be running when the next run starts.
    for t in tasks {
        let _ = t.await;
    }
    let mut s = collector.await.unwrap_or_else(|_| RunStats::new(Duration::ZERO));
    s.window = load.duration;
    s
}
