//! In-process baselines, measured in the same run as the gRPC figures:
//! each stage of one evaluation without the transport (proto decode,
//! validation, rules, risk, decision assembly + encode), per encounter.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cdssd::{
    config::{Settings, Sources},
    decision,
    pipeline::Pipeline,
    proto::v1 as pb,
};
use prost::Message;

use crate::workload::Work;

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Batches per measurement: many short ones, so that a burst of load from other
/// processes spoils some of them, not all.
const BATCHES: u32 = 15;

/// Wall and thread-CPU time of one call of `f`, in microseconds: the lowest mean
/// over [`BATCHES`] batches that together last at least `min` (after one warm-up call).
/// The minimum of batch means is the figure least disturbed by other processes on a
/// shared machine (cache and frequency effects still count as CPU time).
pub fn per_call(min: Duration, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let batch = min / BATCHES;
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..BATCHES {
        let (t, c) = (Instant::now(), thread_cpu());
        let mut n = 0u32;
        while n < 2 || t.elapsed() < batch {
            f();
            n += 1;
        }
        let (w, u) = (t.elapsed(), thread_cpu() - c);
        wall = wall.min(w.as_secs_f64() * 1e6 / f64::from(n));
        cpu = cpu.min(u.as_secs_f64() * 1e6 / f64::from(n));
    }
    (wall, cpu)
}

/// The settings every server of the run uses, built from `CDSSD__*` pairs.
pub fn settings(env: &[(String, String)]) -> anyhow::Result<Arc<Settings>> {
    Ok(Arc::new(Settings::load(&Sources { file: None, env: env.to_vec() })?))
}

/// Per-stage CPU microseconds of one encounter.
pub struct Stages {
    pub name: String,
    pub events: usize,
    pub req_bytes: usize,
    pub resp_bytes: usize,
    pub decode: f64,
    pub validate: f64,
    pub rules: f64,
    pub risk: f64,
    pub assemble_encode: f64,
    pub findings: usize,
    pub risks: usize,
}

impl Stages {
    pub fn total(&self) -> f64 {
        self.decode + self.validate + self.rules + self.risk + self.assemble_encode
    }
}

/// Measure each stage for `work` (CPU time of this thread; `min` per stage).
pub fn stages(p: &Pipeline, work: &Work, min: Duration) -> anyhow::Result<Stages> {
    let bytes = work.req.encode_to_vec();
    let (_, decode) = per_call(min, || {
        std::hint::black_box(pb::EvaluateRequest::decode(bytes.as_slice()).ok());
    });
    let (_, validate) = per_call(min, || {
        std::hint::black_box(p.prepare(&work.req, call()).ok());
    });
    let ctx = p.prepare(&work.req, call())?;
    let (snap, ev) = (ctx.snapshot(), ctx.evaluation());
    let (_, rules) = per_call(min, || {
        std::hint::black_box(cdssd::rules::service::run(&snap.rules, ev));
    });
    let (_, risk) = per_call(min, || {
        std::hint::black_box(snap.models.evaluate(ev));
    });
    let (findings, rule_set_version) = cdssd::rules::service::run(&snap.rules, ev);
    let (risks, models) = snap.models.evaluate(ev);
    let fast = decision::FastPart {
        findings,
        risks,
        rule_set_version,
        models,
        rules_us: 0,
        risk_us: 0,
        data_quality: Vec::new(),
    };
    let header = ctx.header();
    let assemble = || {
        let s = decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "LLM not requested");
        let d = decision::assemble(&header, &fast, s, Pipeline::timings(ev, 0));
        pb::EvaluateResponse { decision: Some(d) }.encode_to_vec()
    };
    let resp_bytes = assemble().len();
    let (_, assemble_encode) = per_call(min, || {
        std::hint::black_box(assemble());
    });
    Ok(Stages {
        name: work.name.clone(),
        events: work.events,
        req_bytes: bytes.len(),
        resp_bytes,
        decode,
        validate,
        rules,
        risk,
        assemble_encode,
        findings: fast.findings.len(),
        risks: fast.risks.len(),
    })
}

/// The transport facts of a load-generator call.
pub fn call() -> cdssd::pipeline::Call {
    cdssd::pipeline::Call {
        request_id: "loadgen".into(),
        deadline: None,
        budget: cdssd::pipeline::Budget::Decision,
        caller: "test".into(),
    }
}
