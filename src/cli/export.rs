//! `cdssd export nhc`: the NHC per-case worksheets from the audit store.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::{
    audit::{self, keys::KeyRing},
    config::Settings,
    report::nhc::{self, Disease},
};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Pre-filled NHC single-disease worksheets (STEMI, ischaemic stroke) of the encounters
    /// discharged in the period, keyed by the pseudonymous encounter id, with the
    /// required-item and dependency checks (docs/NHC-WORKSHEET.md). Identifiers and the
    /// upload stay with the hospital's uploader.
    Nhc(NhcArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiseaseArg {
    Stemi,
    Stroke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
}

/// Arguments of `cdssd export nhc`.
#[derive(Debug, Args)]
pub struct NhcArgs {
    /// First discharge day (yyyy-MM-dd, hospital time zone), inclusive.
    #[arg(long)]
    pub from: String,
    /// Last discharge day (yyyy-MM-dd, hospital time zone), inclusive.
    #[arg(long)]
    pub to: String,
    /// Only this disease.
    #[arg(long, value_enum)]
    pub disease: Option<DiseaseArg>,
    /// Only encounters of this department.
    #[arg(long)]
    pub department: Option<String>,
    /// An existing directory (one `<encounter>-<disease>.json` per worksheet) or a file (one document).
    #[arg(long, value_name = "DIR|FILE")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
}

pub fn run(cmd: ExportCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let ExportCommand::Nhc(args) = cmd;
    let tz = settings.timezone();
    let (from_us, from_day) = super::report::day_start_us(&args.from, tz, "from")?;
    let (_, to_day) = super::report::day_start_us(&args.to, tz, "to")?;
    anyhow::ensure!(to_day >= from_day, "--to is before --from");
    let next = to_day.succ_opt().context("--to is out of range")?;
    let (to_us, _) = super::report::day_start_us(&next.format("%Y-%m-%d").to_string(), tz, "to")?;
    let store = audit::open(&settings.audit)?.context("audit is off (audit.backend = \"off\")")?;
    let keys = KeyRing::load(&settings.audit.key_path(), false)?;
    let rules = crate::rules::service::RuleService::load(settings).map_err(anyhow::Error::msg)?.current();
    let q = nhc::Query {
        from_us,
        to_us,
        from_label: args.from.clone(),
        to_label: args.to.clone(),
        disease: args.disease.map(|d| match d {
            DiseaseArg::Stemi => Disease::Stemi,
            DiseaseArg::Stroke => Disease::Stroke,
        }),
        department: args.department.clone(),
    };
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let limits = crate::encounter::Limits::from_settings(&settings.encounter);
    let doc = nhc::export(store.as_ref(), &keys, &limits, &rules.value_sets, tz, &q, &actor)?;
    let with_errors = doc.worksheets.iter().filter(|w| !w.errors.is_empty()).count();
    if args.out.is_dir() {
        for w in &doc.worksheets {
            let path = args.out.join(format!("{}-{}.json", w.encounter, w.disease.code()));
            let one = serde_json::json!({
                "format": doc.format,
                "item_set": doc.item_set,
                "worksheet": w,
            });
            std::fs::write(&path, serde_json::to_string_pretty(&one)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    } else {
        std::fs::write(&args.out, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    println!(
        "{} worksheet(s) written to {} ({} with check errors, {} unreadable)",
        doc.worksheets.len(),
        args.out.display(),
        with_errors,
        doc.unreadable
    );
    Ok(ExitCode::SUCCESS)
}
