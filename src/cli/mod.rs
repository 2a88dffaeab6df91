//! The command line: `cdssd serve`, `cdssd evaluate`, `cdssd check-config`,
//! `cdssd rules check|test|publish|status`, `cdssd llm eval`.

mod audit;
mod batch;
mod export;
mod fhir_input;
mod llm;
mod replay;
mod report;
mod rules;
mod rules_publish;
mod rules_status;
mod summary;

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    config::{Settings, Sources, EXIT_INVALID_CONFIG},
    encounter, metrics,
    pipeline::{Budget, Call, Pipeline},
    proto::v1 as pb,
    server, telemetry,
};

/// cdssd — clinical decision support daemon.
///
/// Evaluates hospital encounters against single-disease quality-control
/// rules (Rhai), ONNX risk models and a drafted LLM suggestion, over gRPC
/// (`cdss.v1.CdsService`) or in-process (`cdssd evaluate`).
#[derive(Debug, Parser)]
#[command(name = "cdssd", version, about, long_about)]
pub struct Cli {
    /// Configuration file (TOML) layered over the embedded defaults.
    /// Environment variables CDSSD__SECTION__KEY override both.
    #[arg(long, short, global = true, env = "CDSSD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: gRPC on server.listen, metrics on metrics.listen.
    /// Stops gracefully on SIGTERM/SIGINT.
    Serve,
    /// Evaluate one encounter in-process and print the decision.
    ///
    /// FILE is proto3 JSON of an Encounter or of an EvaluateRequest ("-" reads stdin), or
    /// with --fhir a FHIR R4 Bundle (mapped as docs/FHIR-MAPPING.md says).
    Evaluate {
        /// Encounter or EvaluateRequest JSON file, or "-" for stdin.
        file: String,
        /// FILE is a FHIR R4 Bundle (collection, searchset, transaction...) of one patient.
        #[arg(long)]
        fhir: bool,
        /// With --fhir: the Encounter.id to evaluate (default: the latest encounter of the bundle).
        #[arg(long, value_name = "ID", requires = "fhir")]
        encounter_id: Option<String>,
        /// Output format; "auto" prints a summary on a terminal and JSON otherwise.
        #[arg(long, value_enum, default_value_t = Format::Auto)]
        format: Format,
        /// Evaluation time (RFC 3339); default: the request's, else now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// Do not ask the LLM.
        #[arg(long)]
        no_llm: bool,
        /// Also list the rules and models that do not apply to the encounter (and why).
        #[arg(long)]
        include_not_applicable: bool,
        /// Print each finding's reasoning trail (time zero, window, items accepted or
        /// rejected, exclusion checks, outcome) in the summary; JSON always carries it.
        #[arg(long)]
        trail: bool,
    },
    /// Load and validate the configuration, print the effective settings, exit 64 if invalid.
    CheckConfig,
    /// Quality-control rules: compile/lint (`check`), run their test cases (`test`), put a
    /// checked draft in force (`publish`), ask a running daemon what is in force (`status`).
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// The decision audit: retention purge, an encounter's history, one decision with its basis.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Single-disease QC report over the audit store (each discharged encounter once per
    /// measure: its latest evaluation at or after discharge).
    Report(report::ReportArgs),
    /// Exports from the audit store: `export nhc`, the NHC per-case worksheets (STEMI, stroke).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// The concurrent-QC worklist: current inpatients' pending measures by deadline, from the
    /// latest recorded evaluations (same as `cdssd audit worklist`).
    Worklist {
        /// Only this department.
        #[arg(long)]
        department: Option<String>,
    },
    /// Retrospective evaluation of NDJSON requests into the audit store (trigger RETROSPECTIVE,
    /// no LLM, parallel, resumable: already-recorded requests are skipped).
    Batch(batch::BatchArgs),
    /// Re-run recorded requests against another rule set and print the findings that change,
    /// by measure (exit 1 with --fail-on-change when any does).
    Replay(replay::ReplayArgs),
    /// The drafted suggestion: the evaluation gate over committed cases (`llm eval`).
    #[command(subcommand)]
    Llm(llm::LlmCommand),
    /// Risk models: offline checks.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Validate model directories exactly as the daemon loads them (manifest, card,
    /// digest, ONNX session, inputs/outputs, warm-up run); exit 1 if any fails.
    Check {
        /// A models directory or one model directory (default: risk.dir).
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Auto,
    Json,
    Text,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Before any thread exists: ONNX Runtime reads this when its library loads.
    crate::risk::runtime::disable_vendor_telemetry();
    // Wrong arguments exit 64 (EX_USAGE), like an invalid configuration; help and
    // --version print and exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
        Err(e) => e.exit(),
    };
    let settings = match Settings::load(&Sources::from_process(cli.config.clone())) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cdssd: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    match run(cli.command, settings) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cdssd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The loud start-up warnings of explicitly configured openings: plaintext or
/// unauthenticated listeners off loopback (allowed only with tls.allow_plaintext /
/// auth.allow_anonymous, see config validation).
fn warn_if_open(settings: &Settings) {
    let off_loopback = [&settings.server.listen, &settings.http.listen]
        .iter()
        .filter(|a| !a.is_empty())
        .any(|a| a.parse::<std::net::SocketAddr>().is_ok_and(|a| !a.ip().is_loopback()));
    if off_loopback && !settings.tls.enabled() {
        tracing::warn!("PLAINTEXT on a non-loopback address (tls.allow_plaintext = true): patient data crosses the network unencrypted unless a TLS-terminating proxy is in front. See SECURITY.md.");
    }
    if off_loopback && settings.auth.mode == crate::config::security::AuthMode::Off {
        tracing::warn!("NO CALLER AUTHENTICATION on a non-loopback address (auth.allow_anonymous = true): anyone who reaches the port can evaluate, read decisions and reload. See SECURITY.md.");
    }
}

/// The one watcher of `cdssd serve` (nothing else starts one): the rule set
/// (`rules.watch`), the models (`risk.watch`), the LLM's templates and knowledge base and
/// the TLS / key files, each debounced; SIGHUP reloads them all.
fn reloader(
    settings: &Settings,
    pipeline: &Pipeline,
    security: &Arc<crate::listen::Security>,
) -> crate::reload::Reloader {
    use std::time::Duration;
    let ms = Duration::from_millis;
    let mut r = crate::reload::Reloader::new().on_sighup().add(
        pipeline.rules().store().clone(),
        settings.rules.watch,
        ms(settings.rules.debounce_ms),
    );
    if settings.risk.enabled {
        r = r.add(pipeline.risk().clone(), settings.risk.watch, ms(settings.risk.debounce_ms));
    }
    r.add(pipeline.llm().asset_store().clone(), true, ms(250)).add(security.clone(), true, ms(300))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(command: Command, settings: Arc<Settings>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            runtime()?.block_on(async {
                let tracing = telemetry::init_daemon(&settings.log)?;
                // Before anything is served: SIGTERM from now on drains (never the default action).
                let signal = server::shutdown_signal();
                // Metrics first: /healthz answers and /readyz says "loading" while rules and models load.
                let loaded = Arc::new(std::sync::OnceLock::<Arc<Pipeline>>::new());
                let readiness = metrics::http::Readiness::new({
                    let loaded = loaded.clone();
                    move || match loaded.get() {
                        Some(pipeline) => {
                            let why: Vec<String> = [pipeline.risk().readiness(), pipeline.rules().readiness()]
                                .into_iter()
                                .filter_map(Result::err)
                                .collect();
                            if why.is_empty() {
                                Ok(())
                            } else {
                                Err(why.join("; "))
                            }
                        }
                        None => Err("loading rules and models".into()),
                    }
                })
                .with_note({
                    let loaded = loaded.clone();
                    move || loaded.get().and_then(|p| p.rules().readiness_note())
                });
                // TLS identity, token keys and connection limits, shared by every listener and
                // reloaded together (the one watcher below: SIGHUP, or a change to one of their files).
                let security = crate::listen::Security::from_settings(&settings).context("transport security")?;
                warn_if_open(&settings);
                let metrics =
                    metrics::http::MetricsListener::from_settings(&settings, readiness.clone(), &security).await?;
                let audit = {
                    let s = settings.clone();
                    tokio::task::spawn_blocking(move || crate::audit::Auditor::open(&s))
                        .await
                        .context("audit start-up task failed")?
                        .context("cannot open the audit store")?
                };
                let pipeline = Arc::new(
                    Pipeline::new(settings.clone())
                        .map_err(anyhow::Error::msg)?
                        .with_audit(audit)
                        .with_admission_limit(settings.server.max_in_flight_evaluations),
                );
                // The one reload path: one watcher and SIGHUP over every component.
                let _reloader = reloader(&settings, &pipeline, &security).start()?;
                let _ = loaded.set(pipeline.clone());
                let addr = settings.grpc_addr();
                let listener =
                    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
                let shutdown = async move {
                    signal.await;
                    readiness.set_draining();
                };
                let http = match settings.http_addr() {
                    Some(addr) => {
                        let l = tokio::net::TcpListener::bind(addr)
                            .await
                            .with_context(|| format!("cannot listen on {addr} (http.listen)"))?;
                        Some(l)
                    }
                    None => None,
                };
                // The HTTP listener stops after the gRPC server has drained.
                let stop_http = tokio_util::sync::CancellationToken::new();
                let http = http.map(|l| {
                    let stop = stop_http.clone().cancelled_owned();
                    tokio::spawn(crate::web::run(l, pipeline.clone(), security.clone(), stop))
                });
                let served = server::run_secured(listener, pipeline, security, shutdown).await;
                stop_http.cancel();
                if let Some(h) = http {
                    let _ = h.await;
                }
                // /metrics stays up through the drain and stops with the gRPC server.
                if let Some(m) = metrics {
                    m.stop().await;
                }
                tracing.shutdown().await;
                served?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Evaluate { file, fhir, encounter_id, format, now, no_llm, include_not_applicable, trail } => {
            telemetry::init(&crate::config::LogSettings { level: "warn,ort=error".into(), ..settings.log.clone() });
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let mut req = if fhir {
                fhir_input::request(&text, &file, encounter_id.as_deref(), settings.timezone())?
            } else {
                encounter::request_from_json(&text)?
            };
            if req.trigger == 0 {
                // A bare encounter: discharged ones are reviewed at discharge, others as a periodic review.
                let discharged = req.encounter.as_ref().is_some_and(|e| e.discharge_time.is_some());
                req.trigger = if discharged { pb::Trigger::Discharge } else { pb::Trigger::PeriodicReview } as i32;
            }
            if include_not_applicable {
                req.options.get_or_insert_with(Default::default).include_not_applicable = true;
            }
            if let Some(now) = now {
                let t = chrono::DateTime::parse_from_rfc3339(&now).context("--now is not an RFC 3339 time")?;
                req.evaluation_time = Some(crate::decision::timestamp(t.with_timezone(&chrono::Utc)));
            }
            if no_llm {
                req.options.get_or_insert_with(Default::default).llm = pb::LlmMode::Skip as i32;
            }
            // Interactive use waits for the draft (the pipeline's `Budget::Draft`).
            let call = Call {
                request_id: uuid::Uuid::new_v4().to_string(),
                deadline: None,
                budget: Budget::Draft,
                caller: "cli".into(),
            };
            let decision = runtime()?.block_on(async {
                let pipeline = Pipeline::new(settings.clone()).map_err(anyhow::Error::msg)?;
                let prepared = pipeline.prepare(&req, call)?;
                anyhow::Ok(pipeline.evaluate(&prepared).await?)
            })?;
            let text_out = match format {
                Format::Text => true,
                Format::Json => false,
                Format::Auto => std::io::stdout().is_terminal(),
            };
            if text_out {
                print!("{}", summary::render(&decision, settings.timezone(), summary::use_colour(), trail));
            } else {
                println!("{}", encounter::to_json(&decision));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => {
            telemetry::init(&crate::config::LogSettings { level: "warn".into(), ..settings.log.clone() });
            audit::run(cmd, &settings)
        }
        Command::Report(args) => {
            telemetry::init(&crate::config::LogSettings { level: "warn".into(), ..settings.log.clone() });
            report::run(args, &settings)
        }
        Command::Export(cmd) => {
            telemetry::init(&crate::config::LogSettings { level: "warn".into(), ..settings.log.clone() });
            export::run(cmd, &settings)
        }
        Command::Worklist { department } => {
            telemetry::init(&crate::config::LogSettings { level: "warn".into(), ..settings.log.clone() });
            audit::run(audit::AuditCommand::Worklist { department }, &settings)
        }
        Command::Batch(args) => {
            telemetry::init(&crate::config::LogSettings { level: "warn,ort=error".into(), ..settings.log.clone() });
            batch::run(args, settings)
        }
        Command::Replay(args) => {
            telemetry::init(&crate::config::LogSettings { level: "error".into(), ..settings.log.clone() });
            replay::run(args, &settings)
        }
        Command::Llm(cmd) => {
            telemetry::init(&crate::config::LogSettings { level: "error".into(), ..settings.log.clone() });
            llm::run(cmd, settings)
        }
        Command::Rules(cmd) => {
            telemetry::init(&crate::config::LogSettings { level: "error".into(), ..settings.log.clone() });
            rules::run(cmd, &settings)
        }
        Command::Models { command: ModelsCommand::Check { path } } => {
            telemetry::init(&crate::config::LogSettings { level: "warn,ort=error".into(), ..settings.log.clone() });
            let path = path.unwrap_or_else(|| settings.risk.dir.clone());
            let report = crate::risk::check::check(&path, &settings.risk).map_err(anyhow::Error::msg)?;
            for line in &report.lines {
                println!("{line}");
            }
            println!("{} loaded, {} failed", report.loaded, report.failed);
            Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::CheckConfig => {
            println!("Configuration is valid.\n{settings:#?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
