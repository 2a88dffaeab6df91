//! `cdssd batch FILE`: retrospective evaluation of NDJSON EvaluateRequests (or bare
//! Encounters) into the audit store — month-end QC before `cdssd report`.
//! Trigger RETROSPECTIVE, no LLM; parallel over the cores (one evaluation per
//! core in flight, records group-committed); memory flat in the input size (the
//! file is streamed through a bounded queue); resumable (a request whose exact
//! form is already recorded is skipped); a progress line on a terminal.

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use anyhow::Context;
use clap::Args;

use crate::{audit::Auditor, config::Settings, encounter, pipeline::Pipeline, proto::v1 as pb};

/// Arguments of `cdssd batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// NDJSON: one EvaluateRequest or Encounter (proto3 JSON) per line; "-" reads stdin.
    pub file: String,
    /// Parallel evaluations (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Default)]
struct Progress {
    done: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
}

pub fn run(args: BatchArgs, settings: Arc<Settings>) -> anyhow::Result<ExitCode> {
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let reader: Box<dyn BufRead + Send> = if args.file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file))?,
        ))
    };
    let file = PathBuf::from(&args.file);
    rt.block_on(async move {
        let s = settings.clone();
        let audit = tokio::task::spawn_blocking(move || Auditor::open(&s))
            .await?
            .context("cannot open the audit store")?
            .context("audit is off (audit.backend = \"off\"): nothing to record into")?;
        let audit = Arc::new(audit);
        let pipeline = Arc::new(Pipeline::new(settings.clone()).map_err(anyhow::Error::msg)?);
        let (tx, rx) = tokio::sync::mpsc::channel::<(usize, String)>(jobs * 4);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let progress = Arc::new(Progress::default());
        let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut workers = Vec::new();
        for _ in 0..jobs {
            let (rx, pipeline, audit, progress, errors, file) =
                (rx.clone(), pipeline.clone(), audit.clone(), progress.clone(), errors.clone(), file.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let Some((line_no, line)) = rx.lock().await.recv().await else { break };
                    let fail = |msg: String| {
                        progress.failed.fetch_add(1, Ordering::Relaxed);
                        let mut e = errors.lock().unwrap_or_else(|p| p.into_inner());
                        if e.len() < 50 {
                            e.push(format!("{}:{line_no}: {msg}", file.display()));
                        }
                    };
                    let mut req = match encounter::request_from_json(&line) {
                        Ok(r) => r,
                        Err(e) => {
                            fail(e.to_string());
                            continue;
                        }
                    };
                    req.trigger = pb::Trigger::Retrospective as i32;
                    req.options.get_or_insert_with(Default::default).llm = pb::LlmMode::Skip as i32;
                    let a = audit.clone();
                    let r = req.clone();
                    match tokio::task::spawn_blocking(move || a.already_recorded(&r)).await {
                        Ok(Ok(true)) => {
                            progress.skipped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Ok(Ok(false)) => {}
                        Ok(Err(e)) => {
                            fail(e.to_string());
                            continue;
                        }
                        Err(e) => {
                            fail(e.to_string());
                            continue;
                        }
                    }
                    let ctx = match pipeline.prepare(&req, crate::pipeline::Call { request_id: format!("batch-{line_no}"), deadline: None, budget: crate::pipeline::Budget::Decision, caller: "batch".into() }) {
                        Ok(c) => c,
                        Err(e) => {
                            fail(e.to_string());
                            continue;
                        }
                    };
                    match pipeline.evaluate(&ctx).await {
                        Ok(mut d) => match audit.record(&req, &mut d, "batch").await {
                            Ok(()) => {
                                progress.done.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => fail(e.to_string()),
                        },
                        Err(e) => fail(e.to_string()),
                    }
                }
            }));
        }
        let started = Instant::now();
        let tty = std::io::stderr().is_terminal();
        let p = progress.clone();
        let ticker = tokio::spawn(async move {
            if !tty {
                return;
            }
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                let done = p.done.load(Ordering::Relaxed);
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                eprint!(
                    "\r{done} evaluated, {} skipped, {} failed ({rate:.0}/s)   ",
                    p.skipped.load(Ordering::Relaxed),
                    p.failed.load(Ordering::Relaxed)
                );
            }
        });
        // The reader: a blocking thread feeding the bounded queue (memory flat in the input size).
        let feeder = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for (i, line) in reader.lines().enumerate() {
                let line = line.context("cannot read the input")?;
                if line.trim().is_empty() {
                    continue;
                }
                if tx.blocking_send((i + 1, line)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        feeder.await??;
        for w in workers {
            w.await?;
        }
        ticker.abort();
        let (done, skipped, failed) = (
            progress.done.load(Ordering::Relaxed),
            progress.skipped.load(Ordering::Relaxed),
            progress.failed.load(Ordering::Relaxed),
        );
        let secs = started.elapsed().as_secs_f64();
        if tty {
            eprintln!();
        }
        for e in errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            eprintln!("{e}");
        }
        println!(
            "{done} evaluated and recorded, {skipped} already recorded (skipped), {failed} failed in {secs:.1} s ({:.0} encounters/s)",
            done as f64 / secs.max(1e-3)
        );
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}
