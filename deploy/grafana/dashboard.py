#!/usr/bin/env python3
"""Generates cdssd-dashboard.json (the committed Grafana dashboard).

Edit the panels here, then run `python3 deploy/grafana/dashboard.py >
deploy/grafana/cdssd-dashboard.json`; deploy/validate.sh checks that the
committed JSON is what this script prints. Standard library only.
"""
import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job", instance=~"$instance"'

_next_id = [0]
_y = [0]


def _id():
    _next_id[0] += 1
    return _next_id[0]


def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        t["instant"] = True
        t["range"] = False
    return t


def row(title):
    p = {"type": "row", "id": _id(), "title": title, "collapsed": False,
         "gridPos": {"h": 1, "w": 24, "x": 0, "y": _y[0]}, "panels": []}
    _y[0] += 1
    return p


def timeseries(title, targets, unit="short", x=0, w=12, h=8, desc="", stack=False, y=None):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 60,
              "showPoints": "never", "spanNulls": False}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "type": "timeseries", "id": _id(), "title": title, "description": desc,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": _y[0] if y is None else y},
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom",
                               "calcs": ["mean", "max", "lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": targets,
    }


def stat(title, targets, unit="short", x=0, w=4, h=4, desc="", thresholds=None, mappings=None):
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat", "id": _id(), "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": _y[0]},
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                     "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "area", "textMode": "auto"},
        "targets": targets,
    }


def table(title, targets, x=0, w=12, h=8, desc=""):
    return {
        "type": "table", "id": _id(), "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": _y[0]},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
        "transformations": [{"id": "labelsToFields", "options": {"mode": "columns"}}],
        "targets": targets,
    }


def advance(h):
    _y[0] += h


def q(fn, metric, by, window="$__rate_interval", extra=""):
    sel = SEL + (", " + extra if extra else "")
    return f"sum by ({by}) ({fn}({metric}{{{sel}}}[{window}]))"


def quantile(qv, metric, by):
    return (f"histogram_quantile({qv}, sum by (le, {by}) "
            f"(rate({metric}_bucket{{{SEL}}}[$__rate_interval])))")


def red_green(limit):
    return [{"color": "green", "value": None}, {"color": "red", "value": limit}]


def build():
    panels = []
    # ---- Overview ----------------------------------------------------------
    panels.append(row("Overview"))
    panels += [
        stat("Instances up", [target(f'sum(up{{{SEL}}})', "up", instant=True)], x=0,
             desc="Scrape targets answering /metrics.",
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat("Requests/s", [target(f'sum(rate(cdssd_grpc_requests_total{{{SEL}}}[$__rate_interval]))')],
             unit="reqps", x=4),
        stat("Server error ratio",
             [target(f'sum(rate(cdssd_grpc_requests_total{{{SEL}, code=~"UNKNOWN|INTERNAL|UNAVAILABLE|DATA_LOSS|DEADLINE_EXCEEDED"}}[$__rate_interval])) '
                     f'/ sum(rate(cdssd_grpc_requests_total{{{SEL}}}[$__rate_interval]))')],
             unit="percentunit", x=8, thresholds=red_green(0.01),
             desc="Alert CdssdHighErrorRatio at 5%, CdssdElevatedErrorRatio at 1%."),
        stat("Evaluate p99",
             [target(f'histogram_quantile(0.99, sum by (le) (rate(cdssd_grpc_request_duration_seconds_bucket{{{SEL}, method="Evaluate"}}[$__rate_interval])))')],
             unit="s", x=12, thresholds=red_green(0.5),
             desc="The CDS latency budget is 500 ms (alert CdssdLatencyOverBudget)."),
        stat("LLM circuit",
             [target(f'max(cdssd_llm_circuit_state{{{SEL}}})', instant=True)], x=16,
             mappings=[{"type": "value", "options": {
                 "0": {"text": "closed", "color": "green"},
                 "1": {"text": "half-open", "color": "orange"},
                 "2": {"text": "open", "color": "red"}}}],
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1},
                         {"color": "red", "value": 2}]),
        stat("Rules loaded", [target(f'max(cdssd_rule_set_loaded_rules{{{SEL}}})', instant=True)],
             x=20, thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
    ]
    advance(4)
    panels += [
        table("Versions in force",
              [target(f'max by (instance, version) (cdssd_rule_set_info{{{SEL}}} == 1)', "", "A", instant=True),
               target(f'max by (instance, version, git_sha) (cdssd_build_info{{{SEL}}})', "", "B", instant=True)],
              x=0, w=12, h=6,
              desc="Rule-set version and build per instance: all instances should agree (alert CdssdRuleSetVersionSkew)."),
        timeseries("Evaluations/s by trigger",
                   [target(q("rate", "cdssd_evaluations_total", "trigger"), "{{trigger}}"),
                    target(f'sum(rate(cdssd_evaluations_shed_total{{{SEL}}}[$__rate_interval]))', "shed (overload)", "B")],
                   unit="reqps", x=12, w=12, h=6, stack=True,
                   desc="Shed: refused at once because server.max_in_flight_evaluations were in flight (alert CdssdShedding)."),
    ]
    advance(6)
    # ---- gRPC --------------------------------------------------------------
    panels.append(row("gRPC"))
    panels += [
        timeseries("Requests/s by method and code",
                   [target(q("rate", "cdssd_grpc_requests_total", "method, code"), "{{method}} {{code}}")],
                   unit="reqps", x=0),
        timeseries("Latency by method (p50 / p99)",
                   [target(quantile(0.5, "cdssd_grpc_request_duration_seconds", "method"), "p50 {{method}}", "A"),
                    target(quantile(0.99, "cdssd_grpc_request_duration_seconds", "method"), "p99 {{method}}", "B")],
                   unit="s", x=12,
                   desc="EvaluateStream includes the slow LLM draft; the 500 ms budget applies to Evaluate."),
    ]
    advance(8)
    panels += [
        timeseries("Validation errors/s",
                   [target(f'sum(rate(cdssd_validation_errors_total{{{SEL}}}[$__rate_interval]))', "invalid encounters"),
                    target(q("rate", "cdssd_grpc_malformed_requests_total", "reason"), "unreadable: {{reason}}", "B"),
                    target(q("rate", "cdssd_http_refused_requests_total", "route, reason"), "http {{route}}: {{reason}}", "C")],
                   unit="reqps", x=0,
                   desc="Requests rejected with INVALID_ARGUMENT (invalid encounters; undecodable protobuf) or RESOURCE_EXHAUSTED (too large): a rise after an EMR upgrade means the integration sends something new."),
        timeseries("In-flight LLM calls",
                   [target(f'sum by (instance) (cdssd_llm_in_flight{{{SEL}}})', "{{instance}}")], x=12),
    ]
    advance(8)
    panels += [
        timeseries("Data-quality notices/s",
                   [target(f'sum by (list, code_system) (rate(cdssd_data_quality_notices_total{{{SEL}}}[$__rate_interval]))', "{{list}} {{code_system}}")],
                   unit="reqps", x=0,
                   desc="Accepted items no loaded value set can match (e.g. unmapped local codes): rules cannot read them; map the codes."),
    ]
    advance(8)
    # ---- Rules -------------------------------------------------------------
    panels.append(row("Rules"))
    panels += [
        timeseries("Rule evaluations/s by status",
                   [target(q("rate", "cdssd_rule_evaluations_total", "status"), "{{status}}")],
                   unit="ops", x=0, stack=True),
        timeseries("Top 10 rules not met",
                   [target("topk(10, " + q("increase", "cdssd_rule_evaluations_total", "rule_id", "$__range", 'status="not_met"') + ")",
                           "{{rule_id}}")],
                   x=12, desc="Findings not met over the dashboard's time range."),
    ]
    advance(8)
    panels += [
        timeseries("Rule duration by pack (p99)",
                   [target(quantile(0.99, "cdssd_rule_duration_seconds", "pack"), "{{pack}}")], unit="s", x=0),
        timeseries("Rule errors/s by rule",
                   [target(q("rate", "cdssd_rule_errors_total", "rule_id"), "{{rule_id}}"),
                    target(q("increase", "cdssd_rule_quarantines_total", "rule_id", "$__rate_interval"),
                           "quarantined: {{rule_id}}", ref="B")], unit="ops", x=12,
                   desc="Runtime errors and budget overruns (alert CdssdRuleErrors); quarantines (alert CdssdRuleQuarantined)."),
    ]
    advance(8)
    panels += [
        timeseries("Rule-set reloads by outcome",
                   [target(q("increase", "cdssd_reloads_total", "outcome", "$__rate_interval", 'component="rules"'), "{{outcome}}")],
                   x=0, w=8, stack=True),
        timeseries("Loaded rules",
                   [target(f'cdssd_rule_set_loaded_rules{{{SEL}}}', "{{instance}}")], x=8, w=8),
        timeseries("Age of the rule set in force",
                   [target(f'time() - cdssd_rule_set_last_reload_success_timestamp_seconds{{{SEL}}}', "{{instance}}")],
                   unit="s", x=16, w=8, desc="Seconds since the last successful (re)load."),
    ]
    advance(8)
    panels += [
        timeseries("Rule packs without verified test cases",
                   [target(f'sum by (instance, reason) (cdssd_rule_packs_unverified{{{SEL}}})', "{{instance}} {{reason}}")],
                   x=0, w=24, stack=True,
                   desc="Packs in force whose own test cases did not all run and pass (alert CdssdRulesUnverified; cdssd rules status)."),
    ]
    advance(8)
    # ---- Risk models -------------------------------------------------------
    panels.append(row("Risk models"))
    panels += [
        timeseries("Inferences/s by model, device and outcome",
                   [target(q("rate", "cdssd_model_inferences_total", "model_id, device, outcome"),
                           "{{model_id}} {{device}} {{outcome}}")], unit="ops", x=0),
        timeseries("Inference latency p99 by model and device",
                   [target(quantile(0.99, "cdssd_model_inference_duration_seconds", "model_id, device"),
                           "{{model_id}} {{device}}")], unit="s", x=12),
    ]
    advance(8)
    panels += [
        timeseries("Imputed features/s",
                   [target(q("rate", "cdssd_model_imputed_features_total", "model_id, feature"),
                           "{{model_id}} {{feature}}")], unit="ops", x=0, w=8,
                   desc="A feature imputed often means the EMR does not send it: check the integration."),
        timeseries("Model reloads by outcome",
                   [target(q("increase", "cdssd_reloads_total", "outcome", "$__rate_interval", 'component="models"'), "{{outcome}}")],
                   x=8, w=8, stack=True),
        timeseries("Models loaded / configured",
                   [target(f'cdssd_models_loaded{{{SEL}}}', "loaded {{instance}}"),
                    target(f'cdssd_models_configured{{{SEL}}}', "configured {{instance}}")], x=16, w=8,
                   desc="Loaded below configured: a model failed to load (CdssdModelsNotLoaded; ListModels)."),
    ]
    advance(8)
    # ---- LLM ---------------------------------------------------------------
    panels.append(row("LLM draft"))
    panels += [
        timeseries("LLM requests/s by outcome",
                   [target(q("rate", "cdssd_llm_requests_total", "outcome"), "{{outcome}}")],
                   unit="reqps", x=0, w=8, stack=True),
        timeseries("LLM latency (p50 / p99)",
                   [target(quantile(0.5, "cdssd_llm_request_duration_seconds", "job"), "p50", "A"),
                    target(quantile(0.99, "cdssd_llm_request_duration_seconds", "job"), "p99", "B")],
                   unit="s", x=8, w=8),
        timeseries("LLM time to first token (p50 / p99)",
                   [target(quantile(0.5, "cdssd_llm_time_to_first_token_seconds", "job"), "p50", "A"),
                    target(quantile(0.99, "cdssd_llm_time_to_first_token_seconds", "job"), "p99", "B")],
                   unit="s", x=16, w=8),
    ]
    advance(8)
    panels += [
        timeseries("LLM tokens/s by direction",
                   [target(q("rate", "cdssd_llm_tokens_total", "direction"), "{{direction}}")], x=0),
        timeseries("LLM circuit state per instance",
                   [target(f'cdssd_llm_circuit_state{{{SEL}}}', "{{instance}}")], x=12,
                   desc="0 closed, 1 half-open, 2 open (alert CdssdLlmCircuitOpen)."),
    ]
    advance(8)
    # ---- Audit -------------------------------------------------------------
    panels.append(row("Audit"))
    panels += [
        timeseries("Audit commits/s by backend and outcome",
                   [target(q("rate", "cdssd_audit_commits_total", "backend, outcome"), "{{backend}} {{outcome}}")],
                   x=0, w=6, desc="Group commits of decision records; an error fails every call of its batch closed."),
        timeseries("Decisions recorded/s",
                   [target(q("rate", "cdssd_audit_records_total", "backend"), "{{backend}}")], x=6, w=6),
        timeseries("Audit commit latency (p50 / p99)",
                   [target(quantile(0.5, "cdssd_audit_commit_duration_seconds", "backend"), "p50 {{backend}}"),
                    target(quantile(0.99, "cdssd_audit_commit_duration_seconds", "backend"), "p99 {{backend}}", "B")],
                   unit="s", x=12, w=6),
        timeseries("Calls failed closed/s (audit unavailable)",
                   [target(f'sum(rate(cdssd_audit_failed_closed_total{{{SEL}}}[$__rate_interval]))', "failed closed")],
                   x=18, w=6, desc="UNAVAILABLE because the decision could not be recorded."),
    ]
    advance(8)
    panels += [
        timeseries("Override ratio by rule (feedback)",
                   [target(f'sum by (source_id) (rate(cdssd_feedback_total{{{SEL}, outcome="overridden"}}[1h])) / '
                           f'sum by (source_id) (rate(cdssd_feedback_total{{{SEL}}}[1h]))', "{{source_id}}")],
                   unit="percentunit", x=0, w=12,
                   desc="Share of clinician feedback that overrode the card, per rule or model."),
    ]
    advance(8)
    # ---- Security ----------------------------------------------------------
    panels.append(row("Security and connections"))
    panels += [
        timeseries("Calls refused by authentication/s by reason",
                   [target(q("rate", "cdssd_auth_refusals_total", "reason"), "{{reason}}")], x=0, w=8,
                   desc="Bearer JWT refusals ([auth]): missing, expired, replayed, scope... A burst of "
                        "signature/unknown_issuer is someone probing; expired/lifetime is usually clock skew."),
        timeseries("Connections refused/s by listener and reason",
                   [target(q("rate", "cdssd_connections_refused_total", "listener, reason"), "{{listener}} {{reason}}")],
                   x=8, w=8, desc="limit: server.max_connections open; handshake: failed TLS (no or bad client "
                                  "certificate); accept_error: out of file descriptors; request_read_timeout: a "
                                  "request head or body slower than server.request_read_timeout_ms; header_too_large: "
                                  "a request head over server.max_header_bytes."),
        timeseries("Open connections by listener",
                   [target(f'sum by (listener) (cdssd_connections_open{{{SEL}}})', "{{listener}}")], x=16, w=8),
    ]
    advance(8)
    # ---- Process -----------------------------------------------------------
    panels.append(row("Process"))
    panels += [
        timeseries("Resident memory",
                   [target(f'cdssd_process_resident_memory_bytes{{{SEL}}}', "{{instance}}")], unit="bytes", x=0, w=8),
        timeseries("CPU (cores)",
                   [target(f'rate(cdssd_process_cpu_seconds_total{{{SEL}}}[$__rate_interval])', "{{instance}}")],
                   x=8, w=8),
        timeseries("Open file descriptors",
                   [target(f'cdssd_process_open_fds{{{SEL}}}', "{{instance}}")], x=16, w=8),
    ]
    advance(8)

    templating = {"list": [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
        {"type": "query", "name": "job", "label": "Job", "datasource": DS,
         "query": {"query": "label_values(cdssd_build_info, job)", "refId": "job"},
         "definition": "label_values(cdssd_build_info, job)",
         "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1,
         "hide": 0, "options": [], "regex": ""},
        {"type": "query", "name": "instance", "label": "Instance", "datasource": DS,
         "query": {"query": 'label_values(cdssd_build_info{job=~"$job"}, instance)', "refId": "instance"},
         "definition": 'label_values(cdssd_build_info{job=~"$job"}, instance)',
         "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1,
         "hide": 0, "options": [], "regex": ""},
    ]}
    return {
        "uid": "cdssd-overview",
        "title": "cdssd — clinical decision support daemon",
        "description": "Health, latency, rules, risk models and LLM drafts of cdssd (deploy/README.md, 'Reading the dashboard').",
        "tags": ["cdssd"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": templating,
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
