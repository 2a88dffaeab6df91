//! `cdssd replay --rules DIR`: what a rule edit would change in recorded cases.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Args;

use crate::{
    audit::{self, keys::KeyRing, Scan},
    config::Settings,
    report::replay,
};

/// Arguments of `cdssd replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The rules directory to replay against (e.g. an edited copy of rules/).
    #[arg(long, value_name = "DIR")]
    pub rules: PathBuf,
    /// Only encounters of this department.
    #[arg(long)]
    pub department: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any finding changes (a gate for rule edits).
    #[arg(long)]
    pub fail_on_change: bool,
}

pub fn run(args: ReplayArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = audit::open(&settings.audit)?.context("audit is off (audit.backend = \"off\")")?;
    let keys = KeyRing::load(&settings.audit.key_path(), false)?;
    let scan = Scan { department: args.department.clone(), ..Default::default() };
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let r = rt.block_on(replay::replay(&store, &keys, settings, &args.rules, &scan, &actor))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", replay::render(&r));
    }
    Ok(if args.fail_on_change && !r.changes.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
