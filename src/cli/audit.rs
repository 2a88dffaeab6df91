//! `cdssd audit purge | history | show` for operators and QC staff.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::{
    audit::{self, keys::KeyRing, AccessRecord, RetainedTable},
    config::Settings,
};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Delete rows older than each table's retention (`[audit.retention]`); every run is
    /// recorded in `purge_runs`. Prints the rows deleted per table.
    Purge,
    /// The recorded decisions of one encounter (by the EMR's encounter id), oldest first.
    History {
        /// The EMR's encounter id (looked up by its pseudonym).
        encounter_id: String,
    },
    /// Current inpatients' pending measures by deadline (the concurrent-QC worklist).
    Worklist {
        #[arg(long)]
        department: Option<String>,
    },
    /// One recorded decision with its basis, as JSON; `--request` also prints the
    /// decrypted request (a PHI read, recorded in the access log).
    Show {
        decision_id: String,
        #[arg(long)]
        request: bool,
    },
}

fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

pub fn run(cmd: AuditCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let a = &settings.audit;
    let store = audit::open(a)?.context("audit is off (audit.backend = \"off\")")?;
    match cmd {
        AuditCommand::Purge => {
            let now = audit::now_us();
            for table in RetainedTable::ALL {
                let days = table.days(&a.retention);
                if days == 0 {
                    println!("{:<12} kept for ever", table.name());
                    continue;
                }
                let cutoff = now - i64::from(days) * 86_400_000_000;
                let n = store.purge(table, cutoff, &actor())?;
                println!("{:<12} {n} row(s) older than {days} days deleted", table.name());
            }
        }
        AuditCommand::History { encounter_id } => {
            let keys = KeyRing::load(&a.key_path(), false)?;
            let pid = keys.pseudonym(&encounter_id);
            let history = store.history(&pid)?;
            store.record_access(&AccessRecord::now(&actor(), "encounter_history", &pid, history.len() as i64))?;
            println!("encounter pseudonym {pid}: {} decision(s)", history.len());
            for h in history {
                let t = chrono::DateTime::from_timestamp_micros(h.evaluated_us).unwrap_or_default();
                println!(
                    "{}  {}  {:<16} {:<12} rules {}  {} finding(s)",
                    h.id,
                    t.format("%Y-%m-%d %H:%M:%SZ"),
                    h.trigger,
                    h.department,
                    h.rule_set_version,
                    h.findings
                );
            }
        }
        AuditCommand::Worklist { department } => {
            let items = crate::report::worklist::worklist(store.as_ref(), department.as_deref(), audit::now_us())?;
            println!("{} pending item(s) / 待处理项", items.len());
            for i in items {
                let due = if i.deadline_us == i64::MAX {
                    "-".to_string()
                } else {
                    chrono::DateTime::from_timestamp_micros(i.deadline_us)
                        .unwrap_or_default()
                        .with_timezone(&settings.timezone())
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                };
                let flag = if i.overdue { "  OVERDUE / 已超时" } else { "" };
                println!("{due}  {:<12} {}  {}{flag}", i.department, i.encounter_pid, i.rule_id);
            }
        }
        AuditCommand::Show { decision_id, request } => {
            let d = store.decision(&decision_id)?;
            let mut out = serde_json::json!({
                "decision_id": d.id,
                "evaluated_us": d.evaluated_us,
                "trigger": d.trigger,
                "department": d.department,
                "rule_set_version": d.rule_set_version,
                "request_hash": d.request_hash,
                "key_id": d.request.key_id,
                "findings": d.findings,
                "risks": d.risks,
                "draft": d.draft,
            });
            if request {
                let keys = KeyRing::load(&a.key_path(), false)?;
                store.record_access(&AccessRecord::now(&actor(), "decision_request", &d.id, 1))?;
                let req = d.open_request(&keys)?;
                out["request"] = serde_json::to_value(&req)?;
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
