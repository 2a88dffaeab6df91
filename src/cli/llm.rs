//! `cdssd llm eval CASES`: every case through the real pipeline (validation, rules,
//! risk, retrieval, the configured LLM, checks), one at a time, then the figures of
//! `llm::eval` and the gate (exit 1 when a threshold is missed).

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::{
    config::Settings,
    llm::eval::{self, Case, Gate, Report},
    pipeline::{Budget, Call, Pipeline},
};

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Run the evaluation cases against the configured LLM and gate on the figures.
    Eval(EvalArgs),
}

/// Arguments of `cdssd llm eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The cases file (eval/cases.toml).
    pub cases: PathBuf,
    /// Only the cases with this tag (e.g. `example`: the nine example encounters).
    #[arg(long)]
    pub only: Option<String>,
    /// Only these case ids (repeatable).
    #[arg(long = "case", value_name = "ID")]
    pub case_ids: Vec<String>,
    /// At most this many cases (after --only / --case).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Budget per draft in milliseconds (default: llm.total_timeout_ms).
    #[arg(long)]
    pub budget_ms: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Gate: at most this many `ok` drafts (0 for a model that must never pass).
    #[arg(long)]
    pub max_ok: Option<usize>,
    /// Gate: every draft `invalid`, each with a reason.
    #[arg(long)]
    pub all_invalid_with_reason: bool,
    /// Gate: share of cases with an `ok` draft.
    #[arg(long)]
    pub min_ok_rate: Option<f64>,
    /// Gate: share of `ok` drafts naming the principal problem.
    #[arg(long)]
    pub min_mention_rate: Option<f64>,
    /// Gate: cited passages tagged with the claim's value set / cited passages.
    #[arg(long)]
    pub min_citation_precision: Option<f64>,
    /// Gate: claims with a citation of a retrieved passage / claims.
    #[arg(long)]
    pub min_grounding: Option<f64>,
    /// Gate: share of cases rejected as degenerate output.
    #[arg(long)]
    pub max_degenerate_rate: Option<f64>,
    /// Gate: p99 latency of a draft, milliseconds.
    #[arg(long)]
    pub max_p99_ms: Option<u32>,
    /// Gate: retrieval returns each case's expected passages.
    #[arg(long)]
    pub require_retrieval: bool,
}

impl EvalArgs {
    fn gate(&self) -> Gate {
        Gate {
            min_ok_rate: self.min_ok_rate,
            max_ok: self.max_ok,
            all_invalid_with_reason: self.all_invalid_with_reason,
            min_mention_rate: self.min_mention_rate,
            min_citation_precision: self.min_citation_precision,
            min_grounding: self.min_grounding,
            max_degenerate_rate: self.max_degenerate_rate,
            max_p99_ms: self.max_p99_ms,
            require_retrieval: self.require_retrieval,
        }
    }

    fn select(&self, cases: Vec<Case>) -> Vec<Case> {
        let mut cases: Vec<Case> = cases
            .into_iter()
            .filter(|c| self.only.as_ref().is_none_or(|t| c.tags.contains(t)))
            .filter(|c| self.case_ids.is_empty() || self.case_ids.contains(&c.id))
            .collect();
        if let Some(n) = self.limit {
            cases.truncate(n);
        }
        cases
    }
}

/// Run every case, one at a time, through `pipeline`.
pub async fn run_cases(pipeline: &Pipeline, cases: &[Case], budget: Duration) -> anyhow::Result<Report> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let req = eval::request(case, budget).map_err(anyhow::Error::msg)?;
        let call = Call {
            request_id: format!("eval-{}", case.id),
            deadline: None,
            budget: Budget::Draft,
            caller: "llm-eval".into(),
        };
        let p = pipeline.prepare(&req, call).with_context(|| format!("case {}", case.id))?;
        let fast = pipeline.fast(&p).await.with_context(|| format!("case {}", case.id))?;
        let s = pipeline.draft_within_budget(&p, &fast, None).await;
        results.push(eval::score(case, &s, &p.snapshot().rules.value_sets));
        eprintln!("llm eval: {} {} ({} ms)", case.id, results.last().map_or("", |r| r.status.as_str()), s.latency_ms);
    }
    Ok(Report::new(pipeline.settings().llm.model.clone(), results))
}

pub fn run(cmd: LlmCommand, settings: Arc<Settings>) -> anyhow::Result<ExitCode> {
    let LlmCommand::Eval(args) = cmd;
    let cases = args.select(eval::load_cases(&args.cases).map_err(anyhow::Error::msg)?);
    anyhow::ensure!(!cases.is_empty(), "no case selected in {}", args.cases.display());
    let budget = Duration::from_millis(args.budget_ms.unwrap_or(settings.llm.total_timeout_ms));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let report = rt.block_on(async {
        let pipeline = Pipeline::new(settings.clone()).map_err(anyhow::Error::msg)?;
        run_cases(&pipeline, &cases, budget).await
    })?;
    let missed = report.gate(&args.gate());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    for m in &missed {
        eprintln!("gate: {m}");
    }
    Ok(if missed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
