//! `cdssd rules check [PATH]` and `cdssd rules test [PATH]` for QC staff.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;

use crate::{
    config::Settings,
    encounter::Limits,
    rules::{runner, service::compiler_from, RulesError},
};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Compile and lint a rules directory: syntax, unknown functions, unknown value sets,
    /// metadata, test files. Prints every problem as path:line:col and exits 1 if any.
    /// Also warns about rules lacking met / not_met / excluded / not_applicable cases.
    Check {
        /// Rules directory (default: rules.dir from the configuration).
        path: Option<PathBuf>,
        /// Treat coverage warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Run every rule's test cases and print a pass/fail table; a failing case shows the
    /// finding's message and evidence. Exits 1 if a case fails.
    Test {
        /// Rules directory (default: rules.dir from the configuration).
        path: Option<PathBuf>,
        /// Only rules whose id contains this text (e.g. "stemi." or "door_to").
        #[arg(long, short)]
        filter: Option<String>,
    },
}

pub fn run(cmd: RulesCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let compiler = compiler_from(settings);
    let (path, check) = match &cmd {
        RulesCommand::Check { path, .. } => (path.clone(), true),
        RulesCommand::Test { path, .. } => (path.clone(), false),
    };
    let dir = path.unwrap_or_else(|| settings.rules.dir.clone());
    let set = match compiler.compile_dir(&dir) {
        Ok(set) => set,
        Err(RulesError::Load(errs)) => {
            for e in &errs.0 {
                println!("{e}");
            }
            println!("\n{}: {} error(s); the rule set would be rejected.", dir.display(), errs.0.len());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if check {
        let mut warnings = runner::check_tests(&set);
        warnings.extend(runner::text_warnings(&set, &settings.rule_locales()));
        warnings.extend(set.warnings.iter().cloned());
        for w in &warnings {
            println!("warning: {w}");
        }
        let tests: usize = set.tests.iter().map(|t| t.cases.len()).sum();
        println!(
            "{}: OK — version {}, {} packs, {} rules, {} value sets, {} test cases, {} warning(s).",
            dir.display(),
            set.version,
            set.packs.len(),
            set.rule_count(),
            set.value_sets.len(),
            tests,
            warnings.len()
        );
        let strict = matches!(cmd, RulesCommand::Check { strict: true, .. });
        return Ok(if strict && !warnings.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let filter = match &cmd {
        RulesCommand::Test { filter, .. } => filter.as_deref(),
        RulesCommand::Check { .. } => None,
    };
    let limits = Limits::from_settings(&settings.encounter);
    let results = runner::run_tests(&set, &limits, filter);
    print!("{}", runner::render(&results, set.tz()));
    let cov = runner::coverage(&set, &results, filter);
    print!("{}", runner::render_coverage(&cov));
    let gated = set.packs.iter().filter(|p| p.applies_to.is_some()).count();
    let contradictions = runner::check_applies_to(&set, &limits);
    for c in &contradictions {
        println!("FAIL {c}");
    }
    println!(
        "[applies_to] of {gated} pack(s) checked against every test case: {} contradiction(s)",
        contradictions.len()
    );
    println!("rule set {} in {}", set.version, dir.display());
    let ok = results.iter().all(|r| r.passed()) && contradictions.is_empty() && cov.iter().all(|c| c.complete());
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
