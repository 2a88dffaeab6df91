//! `cdssd report`: the single-disease QC report from the audit store.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::{
    audit::{self, keys::KeyRing},
    config::Settings,
    report::{self, discharges, render, Filter, Query},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportLang {
    En,
    #[value(name = "zh-CN")]
    ZhCn,
}

/// Arguments of `cdssd report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// First discharge day (yyyy-MM-dd, hospital time zone), inclusive.
    #[arg(long)]
    pub from: String,
    /// Last discharge day (yyyy-MM-dd, hospital time zone), inclusive.
    #[arg(long)]
    pub to: String,
    /// Only findings of this measure set (the findings' `measure_set`: CMS, TJC, NHC-2020, NHC-2022, ...).
    #[arg(long)]
    pub measure_set: Option<String>,
    /// Only findings of this item of the set (the findings' `measure_id`: AMI-8a, 4.1.1.3, STK-4, ...).
    #[arg(long)]
    pub measure_id: Option<String>,
    /// Only measures of this rule pack.
    #[arg(long)]
    pub pack: Option<String>,
    /// Only encounters of this department.
    #[arg(long)]
    pub department: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Language of the table (the HTML file has both).
    #[arg(long, value_enum, default_value_t = ReportLang::ZhCn)]
    pub lang: ReportLang,
    /// Discharge list (front sheet) CSV: encounter_id,discharge_time[,department]; adds the
    /// coverage line and names not-met encounters by their EMR id (a recorded PHI read).
    #[arg(long, value_name = "CSV")]
    pub discharges: Option<PathBuf>,
    /// Flag rules whose feedback in the period was overridden more often than this share.
    #[arg(long, default_value_t = 0.5)]
    pub override_flag_ratio: f64,
    /// Write to this file instead of standard output (required for html).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(crate) fn day_start_us(day: &str, tz: chrono_tz::Tz, what: &str) -> anyhow::Result<(i64, chrono::NaiveDate)> {
    let d =
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").with_context(|| format!("--{what} is not yyyy-MM-dd"))?;
    let t = d.and_hms_opt(0, 0, 0).expect("midnight").and_local_timezone(tz).earliest().context("no local midnight")?;
    Ok((t.timestamp_micros(), d))
}

pub fn run(args: ReportArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let tz = settings.timezone();
    let (from_us, from_day) = day_start_us(&args.from, tz, "from")?;
    let (_, to_day) = day_start_us(&args.to, tz, "to")?;
    anyhow::ensure!(to_day >= from_day, "--to is before --from");
    let next = to_day.succ_opt().context("--to is out of range")?;
    let (to_us, _) = day_start_us(&next.format("%Y-%m-%d").to_string(), tz, "to")?;
    let store = audit::open(&settings.audit)?.context("audit is off (audit.backend = \"off\")")?;
    let list = match &args.discharges {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            match discharges::parse(path, &text, tz) {
                Ok(l) => Some(l),
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    anyhow::bail!("{} error(s) in the discharge list", errors.len());
                }
            }
        }
    };
    // The figures open the counted requests (and the discharge list resolves pseudonyms): the key.
    let keys = KeyRing::load(&settings.audit.key_path(), false)?;
    let rules = crate::rules::service::RuleService::load(settings).map_err(anyhow::Error::msg)?.current();
    let inputs = report::figures::Inputs {
        keys: &keys,
        limits: crate::encounter::Limits::from_settings(&settings.encounter),
        antimicrobial: rules.value_sets.get("antimicrobial_systemic"),
    };
    let q = Query {
        from_us,
        to_us,
        from_label: args.from.clone(),
        to_label: args.to.clone(),
        department: args.department.clone(),
        filter: Filter {
            measure_set: args.measure_set.clone(),
            measure_id: args.measure_id.clone(),
            pack: args.pack.clone(),
        },
        override_flag_ratio: args.override_flag_ratio,
    };
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let r = report::build(store.as_ref(), Some(&keys), &q, list.as_deref(), Some(&inputs), &actor)?;
    let lang = match args.lang {
        ReportLang::En => render::Lang::En,
        ReportLang::ZhCn => render::Lang::ZhCn,
    };
    let text = match args.format {
        ReportFormat::Table => render::table(&r, lang),
        ReportFormat::Csv => render::csv(&r),
        ReportFormat::Json => render::json(&r),
        ReportFormat::Html => report::html::html(&r),
    };
    match (&args.output, args.format) {
        (Some(path), _) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        (None, ReportFormat::Html) => anyhow::bail!("--format html writes a file: give --output FILE"),
        (None, _) => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
