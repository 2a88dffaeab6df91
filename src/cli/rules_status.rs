//! `cdssd rules status --server ADDR`: what a running daemon has in force, from its
//! `ListRulePacks` answer, in words a QC officer reads. Plaintext gRPC only.
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono_tz::Tz;

use crate::{
    config::Settings,
    proto::v1::{self as pb, cds_service_client::CdsServiceClient},
    rules::verify::{pack_line, PackCases},
};

pub fn run(settings: &Settings, server: &str) -> anyhow::Result<ExitCode> {
    let url = if server.contains("://") { server.to_string() } else { format!("http://{server}") };
    if url.starts_with("https://") {
        anyhow::bail!("{url}: rules status speaks plaintext gRPC only (no TLS, no token); run it against a loopback listener of the daemon");
    }
    let list = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
            .with_context(|| format!("`{server}` is not a gRPC address like 127.0.0.1:50051"))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10));
        let channel = endpoint.connect().await.with_context(|| format!("cannot reach the daemon at {url}"))?;
        let answer = CdsServiceClient::new(channel)
            .list_rule_packs(pb::ListRulePacksRequest {})
            .await
            .map_err(|s| anyhow::anyhow!("{url} answered ListRulePacks with {:?}: {}", s.code(), s.message()))?;
        anyhow::Ok(answer.into_inner())
    })?;
    let (text, healthy) = render(&list, &url, settings.timezone());
    print!("{text}");
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn local(tz: Tz, t: Option<&pbjson_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or_else(|| "-".into(), |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %:z").to_string())
}

/// The report, and whether everything is in order (every pack verified, last reload loaded).
pub fn render(list: &pb::ListRulePacksResponse, url: &str, tz: Tz) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "daemon {url}");
    let _ = writeln!(
        out,
        "rule set in force: version {} (loaded {})",
        list.rule_set_version,
        local(tz, list.loaded_time.as_ref())
    );
    let gate = if list.require_passing_tests {
        "on: a set whose test cases fail is refused"
    } else {
        "OFF (rules.require_passing_tests = false): a set whose test cases fail can go live"
    };
    let _ = writeln!(out, "test gate: {gate}\n");
    let w = list.packs.iter().map(|p| p.id.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<w$}  {:>5}  TEST CASES", "PACK", "RULES");
    let mut all_verified = !list.packs.is_empty();
    for p in &list.packs {
        let cases = PackCases {
            total: p.test_cases_total,
            passed: p.test_cases_passed,
            not_found: p.test_cases_not_found,
            failures: Vec::new(),
        };
        // The daemon's word wins; the counts only explain it.
        all_verified &= p.verified;
        let line = if p.verified == cases.verified() {
            pack_line(&cases, crate::locale::Locale::En)
        } else {
            format!("NOT VERIFIED ({}/{} test cases passed)", p.test_cases_passed, p.test_cases_total)
        };
        let _ = writeln!(out, "{:<w$}  {:>5}  {line}", p.id, p.rules.len());
        for r in p.rules.iter().filter(|r| !r.overridden_by.is_empty()) {
            let _ = writeln!(
                out,
                "{:<w$}         {} replaced by local variant {} (does not run)",
                "", r.id, r.overridden_by
            );
        }
        for f in &p.test_case_failures {
            let _ = writeln!(out, "{:<w$}         {}:{}: {}", "", f.path, f.line.max(1), f.message);
        }
    }
    let loaded = list.last_reload_status() == pb::LoadStatus::Loaded;
    let when = local(tz, list.last_reload_time.as_ref());
    if loaded {
        let _ = writeln!(out, "\nlast reload: loaded ({when})");
    } else {
        let _ = writeln!(
            out,
            "\nlast reload: REJECTED ({when}); version {} stays in force. {} problem(s):",
            list.rule_set_version,
            list.last_reload_errors.len()
        );
        for e in &list.last_reload_errors {
            let _ = writeln!(out, "  {}:{}:{}: {}", e.path, e.line.max(1), e.column.max(1), e.message);
        }
    }
    (out, loaded && all_verified)
}
