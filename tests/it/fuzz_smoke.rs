//! The bounded fuzz run of CI (stable, no cargo-fuzz): the SAME target bodies as the
//! cargo-fuzz crate (`cdssd::fuzzing`, `fuzz/fuzz_targets/`) over the seeds and a fixed
//! number of deterministic mutations of them (bit flips, byte extremes, truncations,
//! splices of two seeds, repeated and inserted chunks, numeric-text extremes). A panic is
//! a failure: the input is written to `target/fuzz-smoke/<target>-<n>.bin` (replay it
//! with `cargo fuzz run <target> <file>`). Each target must also reach both the accepting
//! and the rejecting path, or the mutations test nothing.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    time::{Duration, Instant},
};

use cdssd::fuzzing::{self, JwtHarness, RulesHarness, Verdict};

use crate::support::root;

/// Mutations per target, on top of the seeds themselves.
const MUTATIONS: usize = 1500;
/// Fewer for the rules target: each valid input runs every shipped rule (debug build).
const RULE_MUTATIONS: usize = 1000;
/// A single input taking longer than this is a hang.
const PER_INPUT: Duration = Duration::from_secs(5);
/// A target taking longer than this breaks the CI bound (3 minutes in all).
const PER_TARGET: Duration = Duration::from_secs(60);

/// `CDSSD_FUZZ_SCALE=<n>` multiplies the mutation counts and the per-target bound for a
/// longer run on stable (default 1, the CI run).
fn scale() -> usize {
    std::env::var("CDSSD_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).filter(|&n| n >= 1).unwrap_or(1)
}

/// xorshift64*: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TEXT_EXTREMES: [&[u8]; 9] =
    [b"-1", b"0", b"1e308", b"-1e308", b"NaN", b"99999999999999999999", b"\"\"", b"null", b"\xff"];
const BYTE_EXTREMES: [u8; 6] = [0x00, 0xff, 0x7f, 0x80, b'"', b'\n'];

/// One deterministic mutation of `seeds[i]`.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = BYTE_EXTREMES[rng.below(BYTE_EXTREMES.len())];
            }
            2 => v.truncate(rng.below(len + 1)),
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let (a, b) = (rng.below(len + 1), rng.below(other.len() + 1));
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            4 if len > 0 => {
                let (a, n) = (rng.below(len), 1 + rng.below(16));
                let chunk: Vec<u8> = v[a..(a + n).min(len)].to_vec();
                let at = rng.below(len + 1);
                for _ in 0..1 + rng.below(4) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            5 => {
                // A run of digits (a number in JSON/TOML, a length or tag in protobuf) set to
                // an extreme value.
                let starts: Vec<usize> =
                    (0..len).filter(|&i| v[i].is_ascii_digit() && (i == 0 || !v[i - 1].is_ascii_digit())).collect();
                if !starts.is_empty() {
                    let s = starts[rng.below(starts.len())];
                    let e = (s..len).find(|&i| !v[i].is_ascii_digit()).unwrap_or(len);
                    v.splice(s..e, TEXT_EXTREMES[rng.below(TEXT_EXTREMES.len())].iter().copied());
                }
            }
            6 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            _ if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                v.drain(a..b);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// Run `body` over the seeds of `target` and `count` mutations; panics are collected.
fn drive(target: &str, count: usize, body: &dyn Fn(&[u8]) -> Verdict) -> HashMap<Verdict, usize> {
    let seeds = fuzzing::seeds(&root(), target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64 ^ (target.as_bytes()[0] as u64) << 32);
    let count = count * scale();
    let inputs = seeds.iter().cloned().chain((0..count).map(|_| mutate(&mut rng, &seeds)));
    let started = Instant::now();
    let mut verdicts = HashMap::new();
    let mut failures = Vec::new();
    for (n, input) in inputs.enumerate() {
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| body(&input))) {
            Ok(v) => *verdicts.entry(v).or_insert(0) += 1,
            Err(_) => {
                let dir = root().join("target/fuzz-smoke");
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("{target}-{n}.bin"));
                let _ = std::fs::write(&path, &input);
                failures.push(path.display().to_string());
            }
        }
        assert!(t.elapsed() < PER_INPUT, "{target}: input {n} took {:?} (a hang?)", t.elapsed());
    }
    let took = started.elapsed();
    eprintln!("fuzz smoke {target}: {} inputs in {took:?}: {verdicts:?}", seeds.len() + count);
    assert!(failures.is_empty(), "{target}: {} input(s) panicked: {failures:?}", failures.len());
    let bound = PER_TARGET * scale() as u32;
    assert!(took < bound, "{target}: {took:?} exceeds the bound of {bound:?}");
    assert!(verdicts.get(&Verdict::Accepted).copied().unwrap_or(0) > 0, "{target}: nothing accepted: {verdicts:?}");
    assert!(verdicts.get(&Verdict::Rejected).copied().unwrap_or(0) > 0, "{target}: nothing rejected: {verdicts:?}");
    verdicts
}

#[test]
fn proto_request() {
    let limits = fuzzing::default_limits();
    drive("proto_request", MUTATIONS, &|d| fuzzing::evaluate_request_bytes(d, &limits));
}

#[test]
fn json_request() {
    let limits = fuzzing::default_limits();
    drive("json_request", MUTATIONS, &|d| fuzzing::request_json(d, &limits));
}

#[test]
fn fhir_bundle() {
    let limits = fuzzing::default_limits();
    drive("fhir_bundle", MUTATIONS, &|d| fuzzing::fhir_bundle(d, &limits));
}

#[test]
fn file_formats() {
    drive("value_set", MUTATIONS, &fuzzing::value_set_toml);
    let sets = fuzzing::shipped_value_sets(&root().join("rules"));
    drive("mapping", MUTATIONS, &|d| fuzzing::mapping_toml(d, &sets));
    drive("manifest", MUTATIONS, &fuzzing::model_manifest);
    drive("prompt_template", MUTATIONS, &fuzzing::prompt_template);
    drive("kb_passage", MUTATIONS, &fuzzing::kb_passages);
}

#[test]
fn config() {
    drive("config", MUTATIONS / 3, &fuzzing::config_toml);
}

#[test]
fn jwt() {
    let h = JwtHarness::new();
    drive("jwt", MUTATIONS, &|d| h.check(d));
}

#[test]
fn rules() {
    let h = RulesHarness::load(&root().join("rules"), &root().join("examples/encounters")).unwrap();
    assert!(h.seed_count() >= 5);
    drive("rules", RULE_MUTATIONS, &|d| h.run(d));
}

/// Every target has seeds; with `CDSSD_FUZZ_CORPUS=<dir>` they are written there as the
/// cargo-fuzz corpus (`scripts/fuzz-corpus.sh`).
#[test]
fn seed_corpus() {
    let out = std::env::var_os("CDSSD_FUZZ_CORPUS");
    for target in fuzzing::TARGETS {
        let seeds = fuzzing::seeds(&root(), target);
        assert!(!seeds.is_empty(), "{target}: no seeds");
        if let Some(out) = &out {
            let dir = std::path::Path::new(out).join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, s) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
            }
        }
    }
}
