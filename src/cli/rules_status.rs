//! `cdssd rules status --server ADDR`: what a running daemon has in force, from its
//! `ListRulePacks` answer, in words a QC officer reads. Plaintext gRPC only.
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono_tz::Tz;

use crate::{
    config::Settings,
    locale::Locale,
    locale::{display_width, pad},
    proto::v1::{self as pb, cds_service_client::CdsServiceClient},
    rules::verify::{pack_line, PackCases},
};

pub fn run(settings: &Settings, server: &str, locale: Locale) -> anyhow::Result<ExitCode> {
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
    let (text, healthy) = render(&list, &url, settings.timezone(), locale);
    print!("{text}");
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn local(tz: Tz, t: Option<&pbjson_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or_else(|| "-".into(), |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %:z").to_string())
}

/// A problem's text in `l`: its `texts` entry for `l` when the daemon sent one, else `message`.
pub fn error_text(e: &pb::LoadError, l: Locale) -> &str {
    e.texts.iter().find(|t| t.locale == l.tag()).map_or(e.message.as_str(), |t| t.text.as_str())
}

/// The report in `l`, and whether everything is in order (every pack verified, last
/// reload loaded).
pub fn render(list: &pb::ListRulePacksResponse, url: &str, tz: Tz, l: Locale) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "{} {url}", l.pick("守护进程", "daemon"));
    let (version, loaded_at) = (&list.rule_set_version, local(tz, list.loaded_time.as_ref()));
    let _ = match l {
        Locale::ZhCn => writeln!(out, "当前生效的规则集：版本 {version}（加载于 {loaded_at}）"),
        Locale::En => writeln!(out, "rule set in force: version {version} (loaded {loaded_at})"),
    };
    let gate = match (list.require_passing_tests, l) {
        (true, Locale::ZhCn) => "测试关卡：开启（测试用例未全部通过的规则集会被拒绝）",
        (true, Locale::En) => "test gate: on: a set whose test cases fail is refused",
        (false, Locale::ZhCn) => {
            "测试关卡：关闭（rules.require_passing_tests = false）：测试用例未通过的规则集也会生效"
        }
        (false, Locale::En) => {
            "test gate: OFF (rules.require_passing_tests = false): a set whose test cases fail can go live"
        }
    };
    let _ = writeln!(out, "{gate}\n");
    let (h_pack, h_rules, h_cases) = match l {
        Locale::ZhCn => ("规则包", "规则数", "测试用例"),
        Locale::En => ("PACK", "RULES", "TEST CASES"),
    };
    let w = list.packs.iter().map(|p| display_width(&p.id)).max().unwrap_or(0).max(display_width(h_pack));
    let rw = display_width(h_rules).max(5);
    let _ = writeln!(out, "{}  {}{h_rules}  {h_cases}", pad(h_pack, w), " ".repeat(rw - display_width(h_rules)));
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
            pack_line(&cases, l)
        } else {
            let (passed, total) = (p.test_cases_passed, p.test_cases_total);
            match l {
                Locale::ZhCn => format!("未验证（{passed}/{total} 个用例通过）"),
                Locale::En => format!("NOT VERIFIED ({passed}/{total} test cases passed)"),
            }
        };
        let _ = writeln!(out, "{}  {:>rw$}  {line}", pad(&p.id, w), p.rules.len());
        let indent = " ".repeat(w + rw + 4);
        for r in p.rules.iter().filter(|r| !r.overridden_by.is_empty()) {
            let (id, by) = (&r.id, &r.overridden_by);
            let _ = match l {
                Locale::ZhCn => writeln!(out, "{indent}{id} 已被本地变体 {by} 替代（不运行）"),
                Locale::En => writeln!(out, "{indent}{id} replaced by local variant {by} (does not run)"),
            };
        }
        for f in &p.test_case_failures {
            let _ = writeln!(out, "{indent}{}:{}: {}", f.path, f.line.max(1), error_text(f, l));
        }
    }
    let loaded = list.last_reload_status() == pb::LoadStatus::Loaded;
    let when = local(tz, list.last_reload_time.as_ref());
    let n = list.last_reload_errors.len();
    let _ = match (loaded, l) {
        (true, Locale::ZhCn) => writeln!(out, "\n上次重新加载：已加载（{when}）"),
        (true, Locale::En) => writeln!(out, "\nlast reload: loaded ({when})"),
        (false, Locale::ZhCn) => {
            writeln!(out, "\n上次重新加载：被拒绝（{when}）；版本 {version} 继续生效。{n} 处问题：")
        }
        (false, Locale::En) => {
            writeln!(out, "\nlast reload: REJECTED ({when}); version {version} stays in force. {n} problem(s):")
        }
    };
    if !loaded {
        for e in &list.last_reload_errors {
            let _ = writeln!(out, "  {}:{}:{}: {}", e.path, e.line.max(1), e.column.max(1), error_text(e, l));
        }
    }
    (out, loaded && all_verified)
}
