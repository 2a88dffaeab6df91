//! `cdssd rules check|test|catalogue|measures [PATH]`, `cdssd rules publish DRAFT LIVE` and
//! `cdssd rules status --server ADDR` for QC staff.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;

use crate::{
    config::Settings,
    encounter::Limits,
    locale::Locale,
    rules::{catalogue, measures, publish::Coverage, runner, service::compiler_from, test_report, verify, RulesError},
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
        /// Directory holding the test cases' base encounters (overrides rules.examples_dir).
        #[arg(long, value_name = "DIR")]
        examples: Option<PathBuf>,
        /// Language of the summary and of the explanation printed under each error: zh-CN
        /// or en (default: server.default_locale, zh-CN in the embedded configuration).
        #[arg(long, value_name = "TAG", value_parser = Locale::parse)]
        locale: Option<Locale>,
    },
    /// Run every rule's test cases and print a pass/fail table; a failing case shows the
    /// finding's message and evidence. Exits 1 if a case fails.
    Test {
        /// Rules directory (default: rules.dir from the configuration).
        path: Option<PathBuf>,
        /// Only rules whose id contains this text (e.g. "stemi." or "door_to").
        #[arg(long, short)]
        filter: Option<String>,
        /// Directory holding the test cases' base encounters (overrides rules.examples_dir).
        #[arg(long, value_name = "DIR")]
        examples: Option<PathBuf>,
        /// Language of the report and of the findings' texts: zh-CN or en (default:
        /// server.default_locale, zh-CN in the embedded configuration).
        #[arg(long, value_name = "TAG", value_parser = Locale::parse)]
        locale: Option<Locale>,
    },
    /// Check a draft rules directory completely (compile, lint, every test case) and, only
    /// if all of it passes, put it in force in LIVE_DIR atomically: a new versioned
    /// directory inside LIVE_DIR and one swap of LIVE_DIR/..data (like a Kubernetes
    /// ConfigMap), which the daemon's watcher picks up as one change. LIVE_DIR is the
    /// daemon's rules.dir; it must be empty or made by an earlier publish.
    /// A draft in which a rule with declared outcomes has cases reaching fewer than all of
    /// them (outcome coverage below 100 %, as `rules test` reports it) is refused, the
    /// unreached outcomes named.
    /// Exit 0 published, 1 refused (nothing changed; every problem printed), 64 usage.
    Publish {
        /// The edited copy of the rules.
        draft_dir: PathBuf,
        /// The directory the daemon loads (rules.dir).
        live_dir: PathBuf,
        /// Directory holding the test cases' base encounters (overrides rules.examples_dir).
        #[arg(long, value_name = "DIR")]
        examples: Option<PathBuf>,
        /// Publish even when outcome coverage is below 100 %; the unreached outcomes are
        /// printed with the publication.
        #[arg(long)]
        allow_incomplete_coverage: bool,
        /// Language of the report and of the errors: zh-CN or en (default:
        /// server.default_locale, zh-CN in the embedded configuration).
        #[arg(long, value_name = "TAG", value_parser = Locale::parse)]
        locale: Option<Locale>,
    },
    /// Ask a running daemon (ListRulePacks over gRPC) which rule set is in force: version,
    /// rules and test cases per pack (verified or not), the last reload's outcome with its
    /// errors at path:line. Plaintext gRPC only (no TLS, no token): use it on the host or
    /// pod, against a loopback listener. Exit 0 when every pack is verified and the last
    /// reload loaded, 1 otherwise or when the daemon cannot be reached.
    Status {
        /// gRPC address of the daemon, e.g. 127.0.0.1:50051 or http://127.0.0.1:50051.
        #[arg(long, value_name = "ADDR")]
        server: String,
        /// Language of the report and of the reload's errors: zh-CN or en (default:
        /// server.default_locale, zh-CN in the embedded configuration).
        #[arg(long, value_name = "TAG", value_parser = Locale::parse)]
        locale: Option<Locale>,
    },
    /// Generate the data catalogue (docs/DATA-CATALOGUE.md): for each kind of data the
    /// list, codes, time field, unit and script query, from the contract's comments and the
    /// rule set. Prints it, writes it with --out, or with --check exits 1 when FILE differs.
    Catalogue {
        /// Rules directory (default: rules.dir from the configuration).
        path: Option<PathBuf>,
        /// Write the catalogue to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Compare with this file (e.g. docs/DATA-CATALOGUE.md) instead of writing; exit 1 when it differs.
        #[arg(long, value_name = "FILE", conflicts_with = "out")]
        check: Option<PathBuf>,
    },
    /// Generate the measure catalogue (rules/MEASURES.md): every rule by measure set and item,
    /// then one table per pack (titles in en and zh-CN, set / item / version, rule version,
    /// test cases, source quality, time zero, window), from the rules' meta(), their header
    /// comments and measure_sets.toml. Prints it, writes it with --out, or with --check exits 1
    /// naming the first line where FILE differs.
    Measures {
        /// Rules directory (default: rules.dir from the configuration).
        path: Option<PathBuf>,
        /// Rules directory, as --rules DIR (the same as PATH).
        #[arg(long = "rules", value_name = "DIR", conflicts_with = "path")]
        rules: Option<PathBuf>,
        /// Write the catalogue to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Compare with this file (e.g. rules/MEASURES.md) instead of writing; exit 1 when it differs.
        #[arg(long, value_name = "FILE", conflicts_with = "out")]
        check: Option<PathBuf>,
    },
}

pub fn run(cmd: RulesCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (path, check, examples, locale) = match &cmd {
        RulesCommand::Check { path, examples, locale, .. } => (path.clone(), true, examples.clone(), *locale),
        RulesCommand::Test { path, examples, locale, .. } => (path.clone(), false, examples.clone(), *locale),
        RulesCommand::Catalogue { path, .. } => (path.clone(), false, None, None),
        RulesCommand::Measures { path, rules, .. } => (path.clone().or_else(|| rules.clone()), false, None, None),
        RulesCommand::Publish { draft_dir, live_dir, examples, allow_incomplete_coverage, locale } => {
            let coverage = if *allow_incomplete_coverage { Coverage::Allow } else { Coverage::Require };
            let locale = locale.unwrap_or(settings.default_locale());
            return super::rules_publish::run(settings, draft_dir, live_dir, examples.clone(), coverage, locale);
        }
        RulesCommand::Status { server, locale } => {
            return super::rules_status::run(settings, server, locale.unwrap_or(settings.default_locale()))
        }
    };
    let compiler = match examples {
        Some(dir) => compiler_from(settings).with_examples_dir(Some(dir)),
        None => compiler_from(settings),
    };
    let locale = locale.unwrap_or(settings.default_locale());
    let dir = path.unwrap_or_else(|| settings.rules.dir.clone());
    let set = match compiler.compile_dir(&dir) {
        Ok(set) => set,
        Err(RulesError::Load(errs)) => {
            for e in &errs.0 {
                print_problem(e, locale);
            }
            let n = errs.0.len();
            match locale {
                Locale::ZhCn => println!("\n{}：{n} 处错误，整个规则集将被拒绝。", dir.display()),
                Locale::En => println!("\n{}: {n} error(s); the rule set would be rejected.", dir.display()),
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if let RulesCommand::Catalogue { out, check, .. } = &cmd {
        return catalogue(&set, out.as_deref(), check.as_deref());
    }
    if let RulesCommand::Measures { out, check, .. } = &cmd {
        return match measures::generate(&set) {
            Ok(text) => write_or_check(&text, "measures", &set, out.as_deref(), check.as_deref()),
            Err(errors) => generator_errors(&errors, "measure catalogue"),
        };
    }
    if check {
        let mut warnings = runner::check_tests(&set);
        warnings.extend(runner::text_warnings(&set, &settings.rule_locales()));
        warnings.extend(set.warnings.iter().cloned());
        warnings.extend(measures::header_warnings(&set, locale));
        for w in &warnings {
            println!("warning: {w}");
        }
        // The cases, as the daemon's test gate sees them.
        let v = &set.verification;
        for e in v.load_errors() {
            print_problem(&e, locale);
        }
        if !set.overrides.is_empty() {
            print!(
                "\n{}\n{}",
                locale.pick("本地变体：", "Local variants:"),
                crate::rules::overrides::render(&set.overrides)
            );
        }
        println!("\n{}\n{}", locale.pick("各规则包的测试用例：", "Test cases per pack:"), verify::render(v, locale));
        if !v.all_passed() && compiler.require_passing_tests() {
            let (d, failed, total) = (dir.display(), v.total() - v.passed(), v.total());
            match locale {
                Locale::ZhCn => println!(
                    "{d}：{total} 个测试用例中 {failed} 个未通过，整个规则集将被拒绝（rules.require_passing_tests）。"
                ),
                Locale::En => println!(
                    "{d}: {failed} of {total} test case(s) do not pass; the rule set would be rejected (rules.require_passing_tests)."
                ),
            }
            return Ok(ExitCode::FAILURE);
        }
        let tests: usize = set.tests.iter().map(|t| t.cases.len()).sum();
        let (d, version, packs, rules, sets, w) =
            (dir.display(), &set.version, set.packs.len(), set.rule_count(), set.value_sets.len(), warnings.len());
        match locale {
            Locale::ZhCn => println!(
                "{d}: OK — 版本 {version}，{packs} 个规则包，{rules} 条规则，{sets} 个值集，{tests} 个测试用例，{w} 条提示。"
            ),
            Locale::En => println!(
                "{d}: OK — version {version}, {packs} packs, {rules} rules, {sets} value sets, {tests} test cases, {w} warning(s)."
            ),
        }
        let strict = matches!(cmd, RulesCommand::Check { strict: true, .. });
        return Ok(if strict && !warnings.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let filter = match &cmd {
        RulesCommand::Test { filter, .. } => filter.as_deref(),
        _ => None,
    };
    let limits = Limits::from_settings(&settings.encounter);
    let results = runner::run_tests(&set, &limits, filter, locale);
    print!("{}", test_report::render(&results, set.tz(), locale));
    let cov = runner::coverage(&set, &results, filter);
    print!("{}", test_report::render_coverage(&cov, locale));
    let gated = set.packs.iter().filter(|p| p.applies_to.is_some()).count();
    let contradictions = runner::check_applies_to(&set, &limits);
    for c in &contradictions {
        println!("FAIL {c}");
    }
    let n = contradictions.len();
    match locale {
        Locale::ZhCn => {
            println!("已用全部测试用例检查 {gated} 个规则包的 [applies_to]：矛盾 {n} 处");
            println!("规则集版本 {}，目录 {}", set.version, dir.display());
        }
        Locale::En => {
            println!("[applies_to] of {gated} pack(s) checked against every test case: {n} contradiction(s)");
            println!("rule set {} in {}", set.version, dir.display());
        }
    }
    let ok = results.iter().all(|r| r.passed()) && contradictions.is_empty() && cov.iter().all(|c| c.complete());
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One `path:line:col: message` problem in `l`, then what its class means in `l` when known.
fn print_problem(problem: &crate::diagnostic::Diagnostic, l: Locale) {
    println!("{}", problem.render(l));
    if let Some(h) = crate::rules::hints::hint(&problem.message, l) {
        println!("  {}{h}", l.pick("说明：", "means: "));
    }
}

fn catalogue(
    set: &crate::rules::RuleSet,
    out: Option<&std::path::Path>,
    check: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let contract = catalogue::Contract::embedded();
    match catalogue::generate(&contract, set) {
        Ok(text) => write_or_check(&text, "catalogue", set, out, check),
        Err(errors) => generator_errors(&errors, "catalogue"),
    }
}

fn generator_errors(errors: &[String], what: &str) -> anyhow::Result<ExitCode> {
    for e in errors {
        println!("{e}");
    }
    println!("\n{} error(s); no {what} written.", errors.len());
    Ok(ExitCode::FAILURE)
}

/// Print `text`, write it to `out`, or compare it with `check` (exit 1 naming the first
/// differing line and the command that regenerates the file: `cdssd rules <command> …`).
fn write_or_check(
    text: &str,
    command: &str,
    set: &crate::rules::RuleSet,
    out: Option<&std::path::Path>,
    check: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if let Some(file) = check {
        let regenerate =
            format!("regenerate it with `cdssd rules {command} {} --out {}`", set.root.display(), file.display());
        let committed = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("{}: cannot be read ({e}); {regenerate}", file.display());
                return Ok(ExitCode::FAILURE);
            }
        };
        let Some((line, old, new)) = measures::first_difference(&committed, text) else {
            println!("{}: up to date", file.display());
            return Ok(ExitCode::SUCCESS);
        };
        let shown = |l: Option<&str>| match l {
            None => "(end of file)".to_string(),
            Some(l) if l.chars().count() > 160 => format!("{:?}…", l.chars().take(160).collect::<String>()),
            Some(l) => format!("{l:?}"),
        };
        println!("{}: out of date from line {line}; {regenerate}", file.display());
        println!("  the file has:    {}", shown(old));
        println!("  the rules give:  {}", shown(new));
        return Ok(ExitCode::FAILURE);
    }
    match out {
        Some(file) => {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(file, text)?;
            println!("{}: written ({} lines)", file.display(), text.lines().count());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
