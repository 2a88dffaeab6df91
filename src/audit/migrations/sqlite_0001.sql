-- Audit schema v1 (sqlite). Owned by cdssd (src/audit/db.rs applies it once, recorded in audit_migrations).
-- Append-only: UPDATE is refused on every table; DELETE only inside a purge run, which
-- holds a row in purge_guard for its own transaction (cdssd audit purge, recorded in purge_runs).
-- Times are microseconds since the Unix epoch, UTC. Requests are AES-256-GCM sealed and kept apart
-- from the PHI-minimised decision record (no patient id, no EMR encounter id, no clinical values).

CREATE TABLE purge_guard (token TEXT NOT NULL);

CREATE TABLE decisions (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  recorded_us BIGINT NOT NULL,
  evaluated_us BIGINT NOT NULL,
  time_zone TEXT NOT NULL,
  caller TEXT NOT NULL,
  encounter_pid TEXT NOT NULL,
  encounter_class TEXT NOT NULL,
  trig TEXT NOT NULL,
  department TEXT NOT NULL,
  arrival_us BIGINT,
  discharge_us BIGINT,
  request_hash TEXT NOT NULL,
  rule_set_version TEXT NOT NULL,
  cdssd_version TEXT NOT NULL,
  models TEXT NOT NULL,
  timings TEXT NOT NULL,
  cards TEXT NOT NULL
);

CREATE TABLE requests (
  decision_id TEXT PRIMARY KEY REFERENCES decisions(id) ON DELETE CASCADE,
  recorded_us BIGINT NOT NULL,
  key_id TEXT NOT NULL,
  nonce BLOB NOT NULL,
  ciphertext BLOB NOT NULL
);

CREATE TABLE findings (
  decision_id TEXT NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
  ord BIGINT NOT NULL,
  rule_id TEXT NOT NULL,
  rule_version TEXT NOT NULL,
  pack TEXT NOT NULL,
  measure TEXT NOT NULL,
  measure_set TEXT NOT NULL,
  measure_id TEXT NOT NULL,
  status TEXT NOT NULL,
  exclusion_reason TEXT NOT NULL,
  deadline_us BIGINT,
  missing TEXT NOT NULL,
  evidence TEXT NOT NULL,
  PRIMARY KEY (decision_id, ord)
);

CREATE TABLE risks (
  decision_id TEXT NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
  ord BIGINT NOT NULL,
  model_id TEXT NOT NULL,
  model_version TEXT NOT NULL,
  status TEXT NOT NULL,
  probability DOUBLE PRECISION NOT NULL,
  band TEXT NOT NULL,
  imputed TEXT NOT NULL,
  PRIMARY KEY (decision_id, ord)
);

CREATE TABLE drafts (
  decision_id TEXT PRIMARY KEY REFERENCES decisions(id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  template_version TEXT NOT NULL,
  prompt_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  latency_ms BIGINT NOT NULL
);

CREATE TABLE feedback (
  id TEXT PRIMARY KEY,
  decision_id TEXT NOT NULL,
  card_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  source_version TEXT NOT NULL,
  department TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason_code TEXT NOT NULL,
  comment_key_id TEXT NOT NULL,
  comment_nonce BLOB NOT NULL,
  comment BLOB NOT NULL,
  user_role TEXT NOT NULL,
  time_us BIGINT NOT NULL,
  recorded_us BIGINT NOT NULL
);

CREATE TABLE access_log (
  id TEXT PRIMARY KEY,
  time_us BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  records BIGINT NOT NULL
);

CREATE TABLE purge_runs (
  id TEXT PRIMARY KEY,
  time_us BIGINT NOT NULL,
  actor TEXT NOT NULL,
  table_name TEXT NOT NULL,
  cutoff_us BIGINT NOT NULL,
  deleted BIGINT NOT NULL
);

CREATE INDEX decisions_encounter ON decisions (encounter_pid, evaluated_us);
CREATE INDEX decisions_discharge ON decisions (discharge_us);
CREATE INDEX decisions_recorded ON decisions (recorded_us);
CREATE INDEX decisions_request_hash ON decisions (request_hash);
CREATE INDEX feedback_decision ON feedback (decision_id);
CREATE INDEX feedback_time ON feedback (time_us);

CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER requests_no_update BEFORE UPDATE ON requests
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER findings_no_update BEFORE UPDATE ON findings
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER findings_no_delete BEFORE DELETE ON findings WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER risks_no_update BEFORE UPDATE ON risks
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER risks_no_delete BEFORE DELETE ON risks WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER drafts_no_update BEFORE UPDATE ON drafts
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER drafts_no_delete BEFORE DELETE ON drafts WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER feedback_no_update BEFORE UPDATE ON feedback
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER feedback_no_delete BEFORE DELETE ON feedback WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
CREATE TRIGGER purge_runs_no_update BEFORE UPDATE ON purge_runs
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER purge_runs_no_delete BEFORE DELETE ON purge_runs WHEN NOT EXISTS (SELECT 1 FROM purge_guard)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (purge with cdssd audit purge)'); END;
