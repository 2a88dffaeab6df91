//! The audit logic, written once over a [`Conn`]: each backend supplies only its
//! connection and its DDL. One connection writes (the group-commit thread),
//! one reads, each behind its own lock.

use std::sync::Mutex;

use super::{
    db::{self, rows, Conn, DbError, Value},
    keys::Sealed,
    record::{CardRef, DraftRow, FindingRow, RiskRow},
    AccessRecord, AuditError, AuditStore, DecisionRecord, DecisionSummary, FeedbackRecord, RetainedTable, Scan,
    StoredDecision,
};

/// An [`AuditStore`] over one backend's connections.
pub struct SqlStore<C: Conn> {
    writer: Mutex<C>,
    reader: Mutex<C>,
    backend: crate::metrics::AuditBackend,
}

impl<C: Conn> std::fmt::Debug for SqlStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("backend", &self.backend).finish()
    }
}

const DECISION_COLUMNS: &str = "id, request_id, recorded_us, evaluated_us, time_zone, caller, encounter_pid, \
    encounter_class, trig, department, arrival_us, discharge_us, request_hash, rule_set_version, cdssd_version, \
    models, timings, cards";

fn json<T: serde::Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).expect("plain data serialises"))
}

fn list(v: &Value) -> Vec<String> {
    serde_json::from_str(&v.text()).unwrap_or_default()
}

/// Run `f` in a write transaction; roll back on error.
fn transaction<C: Conn, T>(c: &mut C, f: impl FnOnce(&mut C) -> Result<T, DbError>) -> Result<T, DbError> {
    c.begin()?;
    match f(c) {
        Ok(v) => {
            c.batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn insert_decision(c: &mut dyn Conn, d: &DecisionRecord) -> Result<(), DbError> {
    c.execute(
        &format!("INSERT INTO decisions ({DECISION_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)"),
        &[
            d.id.as_str().into(),
            d.request_id.as_str().into(),
            d.recorded_us.into(),
            d.evaluated_us.into(),
            d.time_zone.as_str().into(),
            d.caller.as_str().into(),
            d.encounter_pid.as_str().into(),
            d.encounter_class.as_str().into(),
            d.trigger.as_str().into(),
            d.department.as_str().into(),
            d.arrival_us.into(),
            d.discharge_us.into(),
            d.request_hash.as_str().into(),
            d.rule_set_version.as_str().into(),
            d.cdssd_version.as_str().into(),
            d.models.as_str().into(),
            d.timings.as_str().into(),
            json(&d.cards),
        ],
    )?;
    c.execute(
        "INSERT INTO requests (decision_id, recorded_us, key_id, nonce, ciphertext) VALUES ($1,$2,$3,$4,$5)",
        &[
            d.id.as_str().into(),
            d.recorded_us.into(),
            d.request.key_id.as_str().into(),
            d.request.nonce.clone().into(),
            d.request.ciphertext.clone().into(),
        ],
    )?;
    for (i, f) in d.findings.iter().enumerate() {
        c.execute(
            "INSERT INTO findings (decision_id, ord, rule_id, rule_version, pack, measure, measure_set, measure_id, \
             status, exclusion_reason, deadline_us, missing, evidence) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
            &[
                d.id.as_str().into(),
                (i as i64).into(),
                f.rule_id.as_str().into(),
                f.rule_version.as_str().into(),
                f.pack.as_str().into(),
                f.measure.as_str().into(),
                f.measure_set.as_str().into(),
                f.measure_id.as_str().into(),
                f.status.as_str().into(),
                f.exclusion_reason.as_str().into(),
                f.deadline_us.into(),
                json(&f.missing),
                json(&f.evidence),
            ],
        )?;
    }
    for (i, r) in d.risks.iter().enumerate() {
        c.execute(
            "INSERT INTO risks (decision_id, ord, model_id, model_version, status, probability, band, imputed) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            &[
                d.id.as_str().into(),
                (i as i64).into(),
                r.model_id.as_str().into(),
                r.model_version.as_str().into(),
                r.status.as_str().into(),
                r.probability.into(),
                r.band.as_str().into(),
                json(&r.imputed),
            ],
        )?;
    }
    if let Some(s) = &d.draft {
        c.execute(
            "INSERT INTO drafts (decision_id, model, template_version, prompt_hash, status, latency_ms) VALUES ($1,$2,$3,$4,$5,$6)",
            &[
                d.id.as_str().into(),
                s.model.as_str().into(),
                s.template_version.as_str().into(),
                s.prompt_hash.as_str().into(),
                s.status.as_str().into(),
                s.latency_ms.into(),
            ],
        )?;
    }
    Ok(())
}

fn decision_from(r: &[Value]) -> DecisionRecord {
    DecisionRecord {
        id: r[0].text(),
        request_id: r[1].text(),
        recorded_us: r[2].int(),
        evaluated_us: r[3].int(),
        time_zone: r[4].text(),
        caller: r[5].text(),
        encounter_pid: r[6].text(),
        encounter_class: r[7].text(),
        trigger: r[8].text(),
        department: r[9].text(),
        arrival_us: r[10].opt_int(),
        discharge_us: r[11].opt_int(),
        request_hash: r[12].text(),
        rule_set_version: r[13].text(),
        cdssd_version: r[14].text(),
        models: r[15].text(),
        timings: r[16].text(),
        cards: serde_json::from_str::<Vec<CardRef>>(&r[17].text()).unwrap_or_default(),
        findings: Vec::new(),
        risks: Vec::new(),
        draft: None,
        request: Sealed { key_id: String::new(), nonce: Vec::new(), ciphertext: Vec::new() },
    }
}

fn finding_from(r: &[Value]) -> FindingRow {
    FindingRow {
        rule_id: r[0].text(),
        rule_version: r[1].text(),
        pack: r[2].text(),
        measure: r[3].text(),
        measure_set: r[4].text(),
        measure_id: r[5].text(),
        status: r[6].text(),
        exclusion_reason: r[7].text(),
        deadline_us: r[8].opt_int(),
        missing: list(&r[9]),
        evidence: list(&r[10]),
    }
}

const FINDING_COLUMNS: &str =
    "rule_id, rule_version, pack, measure, measure_set, measure_id, status, exclusion_reason, deadline_us, missing, evidence";

fn fill(c: &mut dyn Conn, d: &mut DecisionRecord) -> Result<(), DbError> {
    let id = Value::from(d.id.as_str());
    let p = std::slice::from_ref(&id);
    d.findings = rows(c, &format!("SELECT {FINDING_COLUMNS} FROM findings WHERE decision_id = $1 ORDER BY ord"), p)?
        .iter()
        .map(|r| finding_from(r))
        .collect();
    d.risks = rows(
        c,
        "SELECT model_id, model_version, status, probability, band, imputed FROM risks WHERE decision_id = $1 ORDER BY ord",
        p,
    )?
    .iter()
    .map(|r| RiskRow {
        model_id: r[0].text(),
        model_version: r[1].text(),
        status: r[2].text(),
        probability: r[3].real(),
        band: r[4].text(),
        imputed: list(&r[5]),
    })
    .collect();
    d.draft = rows(
        c,
        "SELECT model, template_version, prompt_hash, status, latency_ms FROM drafts WHERE decision_id = $1",
        p,
    )?
    .first()
    .map(|r| DraftRow {
        model: r[0].text(),
        template_version: r[1].text(),
        prompt_hash: r[2].text(),
        status: r[3].text(),
        latency_ms: r[4].int(),
    });
    if let Some(r) = rows(c, "SELECT key_id, nonce, ciphertext FROM requests WHERE decision_id = $1", p)?.first() {
        d.request = Sealed { key_id: r[0].text(), nonce: r[1].blob(), ciphertext: r[2].blob() };
    }
    Ok(())
}

impl<C: Conn> SqlStore<C> {
    /// A store over a writer and a reader connection; migrates the schema.
    pub fn new(mut writer: C, reader: C) -> Result<Self, AuditError> {
        db::migrate(&mut writer)?;
        let backend = writer.backend();
        Ok(Self { writer: Mutex::new(writer), reader: Mutex::new(reader), backend })
    }

    fn write<T>(&self, f: impl FnOnce(&mut C) -> Result<T, DbError>) -> Result<T, AuditError> {
        let mut c = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(transaction(&mut *c, f)?)
    }

    fn read<T>(&self, f: impl FnOnce(&mut C) -> Result<T, DbError>) -> Result<T, AuditError> {
        let mut c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut c)?)
    }
}

impl<C: Conn> AuditStore for SqlStore<C> {
    fn backend(&self) -> crate::metrics::AuditBackend {
        self.backend
    }

    fn append(&self, batch: &[DecisionRecord]) -> Result<(), AuditError> {
        self.write(|c| batch.iter().try_for_each(|d| insert_decision(c, d)))
    }

    fn append_feedback(&self, fb: &FeedbackRecord) -> Result<(), AuditError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO feedback (id, decision_id, card_id, source_id, source_version, department, outcome, \
                 reason_code, comment_key_id, comment_nonce, comment, user_role, time_us, recorded_us) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
                &[
                    fb.id.as_str().into(),
                    fb.decision_id.as_str().into(),
                    fb.card_id.as_str().into(),
                    fb.source_id.as_str().into(),
                    fb.source_version.as_str().into(),
                    fb.department.as_str().into(),
                    fb.outcome.as_str().into(),
                    fb.reason_code.as_str().into(),
                    fb.comment.key_id.as_str().into(),
                    fb.comment.nonce.clone().into(),
                    fb.comment.ciphertext.clone().into(),
                    fb.user_role.as_str().into(),
                    fb.time_us.into(),
                    fb.recorded_us.into(),
                ],
            )
            .map(|_| ())
        })
    }

    fn record_access(&self, a: &AccessRecord) -> Result<(), AuditError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO access_log (id, time_us, actor, action, subject, records) VALUES ($1,$2,$3,$4,$5,$6)",
                &[
                    a.id.as_str().into(),
                    a.time_us.into(),
                    a.actor.as_str().into(),
                    a.action.as_str().into(),
                    a.subject.as_str().into(),
                    a.records.into(),
                ],
            )
            .map(|_| ())
        })
    }

    fn history(&self, pid: &str) -> Result<Vec<DecisionSummary>, AuditError> {
        self.read(|c| {
            Ok(rows(
                c,
                "SELECT d.id, d.evaluated_us, d.trig, d.department, d.rule_set_version, \
                 (SELECT COUNT(*) FROM findings f WHERE f.decision_id = d.id) \
                 FROM decisions d WHERE d.encounter_pid = $1 ORDER BY d.evaluated_us, d.recorded_us",
                &[pid.into()],
            )?
            .iter()
            .map(|r| DecisionSummary {
                id: r[0].text(),
                evaluated_us: r[1].int(),
                trigger: r[2].text(),
                department: r[3].text(),
                rule_set_version: r[4].text(),
                findings: r[5].int(),
            })
            .collect())
        })
    }

    fn decision(&self, id: &str) -> Result<StoredDecision, AuditError> {
        let found = self.read(|c| {
            let Some(r) = rows(c, &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"), &[id.into()])?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            let mut d = decision_from(&r);
            fill(c, &mut d)?;
            Ok(Some(d))
        })?;
        found.ok_or_else(|| AuditError::NotFound(id.to_string()))
    }

    fn latest_decision_with_card(&self, card_id: &str, since_us: i64) -> Result<Option<String>, AuditError> {
        if uuid::Uuid::parse_str(card_id).is_err() {
            return Err(AuditError::Invalid("a card id is a UUID".into()));
        }
        // `cards` is the JSON list of `CardRef`s; a UUID has no LIKE wildcard of its own.
        let pattern = format!("%\"card_id\":\"{card_id}\"%");
        self.read(|c| {
            Ok(rows(
                c,
                "SELECT id FROM decisions WHERE recorded_us >= $1 AND cards LIKE $2 \
                 ORDER BY recorded_us DESC, id DESC LIMIT 1",
                &[since_us.into(), pattern.as_str().into()],
            )?
            .first()
            .map(|r| r[0].text()))
        })
    }

    fn scan(&self, scan: &Scan, each: &mut dyn FnMut(StoredDecision)) -> Result<(), AuditError> {
        self.read(|c| {
            let mut sql = format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE 1 = 1");
            let mut params = Vec::new();
            if let Some(from) = scan.discharged_from_us {
                params.push(Value::Int(from));
                sql += &format!(" AND discharge_us >= ${}", params.len());
            }
            if let Some(to) = scan.discharged_to_us {
                params.push(Value::Int(to));
                sql += &format!(" AND discharge_us < ${}", params.len());
            }
            if let Some(dep) = &scan.department {
                params.push(dep.as_str().into());
                sql += &format!(" AND department = ${}", params.len());
            }
            if scan.not_discharged {
                sql += " AND discharge_us IS NULL";
            }
            sql += " ORDER BY evaluated_us, recorded_us, id";
            let decisions = rows(c, &sql, &params)?;
            for r in decisions {
                let mut d = decision_from(&r);
                fill(c, &mut d)?;
                each(d);
            }
            Ok(())
        })
    }

    fn feedback(&self, from_us: i64, to_us: i64) -> Result<Vec<FeedbackRecord>, AuditError> {
        self.read(|c| {
            Ok(rows(
                c,
                "SELECT id, decision_id, card_id, source_id, source_version, department, outcome, reason_code, \
                 comment_key_id, comment_nonce, comment, user_role, time_us, recorded_us FROM feedback \
                 WHERE time_us >= $1 AND time_us < $2 ORDER BY time_us, id",
                &[from_us.into(), to_us.into()],
            )?
            .iter()
            .map(|r| FeedbackRecord {
                id: r[0].text(),
                decision_id: r[1].text(),
                card_id: r[2].text(),
                source_id: r[3].text(),
                source_version: r[4].text(),
                department: r[5].text(),
                outcome: r[6].text(),
                reason_code: r[7].text(),
                comment: Sealed { key_id: r[8].text(), nonce: r[9].blob(), ciphertext: r[10].blob() },
                user_role: r[11].text(),
                time_us: r[12].int(),
                recorded_us: r[13].int(),
            })
            .collect())
        })
    }

    fn access_log(&self, limit: i64) -> Result<Vec<AccessRecord>, AuditError> {
        self.read(|c| {
            Ok(rows(
                c,
                "SELECT id, time_us, actor, action, subject, records FROM access_log ORDER BY time_us DESC, id LIMIT $1",
                &[limit.into()],
            )?
            .iter()
            .map(|r| AccessRecord {
                id: r[0].text(),
                time_us: r[1].int(),
                actor: r[2].text(),
                action: r[3].text(),
                subject: r[4].text(),
                records: r[5].int(),
            })
            .collect())
        })
    }

    fn purge(&self, table: RetainedTable, cutoff_us: i64, actor: &str) -> Result<u64, AuditError> {
        let (name, column) = match table {
            RetainedTable::Requests => ("requests", "recorded_us"),
            RetainedTable::Decisions => ("decisions", "recorded_us"),
            RetainedTable::Feedback => ("feedback", "recorded_us"),
            RetainedTable::AccessLog => ("access_log", "time_us"),
        };
        let run = uuid::Uuid::new_v4().to_string();
        self.write(|c| {
            c.execute("INSERT INTO purge_guard (token) VALUES ($1)", &[run.as_str().into()])?;
            let deleted = c.execute(&format!("DELETE FROM {name} WHERE {column} < $1"), &[cutoff_us.into()])?;
            c.execute("DELETE FROM purge_guard WHERE token = $1", &[run.as_str().into()])?;
            c.execute(
                "INSERT INTO purge_runs (id, time_us, actor, table_name, cutoff_us, deleted) VALUES ($1,$2,$3,$4,$5,$6)",
                &[
                    run.as_str().into(),
                    super::now_us().into(),
                    actor.into(),
                    name.into(),
                    cutoff_us.into(),
                    (deleted as i64).into(),
                ],
            )?;
            Ok(deleted)
        })
    }

    fn has_request(&self, request_hash: &str) -> Result<bool, AuditError> {
        self.read(|c| {
            Ok(!rows(c, "SELECT 1 FROM decisions WHERE request_hash = $1 LIMIT 1", &[request_hash.into()])?.is_empty())
        })
    }

    fn count(&self, table: &str) -> Result<i64, AuditError> {
        if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(AuditError::Invalid(format!("not a table name: {table}")));
        }
        self.read(|c| Ok(rows(c, &format!("SELECT COUNT(*) FROM {table}"), &[])?[0][0].int()))
    }
}
