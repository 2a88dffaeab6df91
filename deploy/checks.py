#!/usr/bin/env python3
"""Offline consistency checks of deploy/, called by deploy/validate.sh.

  checks.py metric-names              alerts + dashboard use only families of metrics.txt
  checks.py dashboard-rules OUT.yml   writes every dashboard query as a recording rule,
                                      so that `promtool check rules` parses its PromQL
  checks.py dockerfile PATH CONTEXT    COPY sources exist, non-root USER, HEALTHCHECK, tagged bases
  checks.py compose                   compose.yaml: services, mounts, hardening
  checks.py k8s RENDERED.yaml [gpu]   a rendered overlay: probes, limits, security,
                                      grace period vs drain, HPA/PDB/NetworkPolicy/ServiceMonitor
Each failed check prints "FAIL: ..." and the script exits 1.
"""
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print(f"FAIL: {msg}")
    return cond


def families():
    out = {}
    with open(os.path.join(HERE, "metrics.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, kind, labels = line.split()
                out[name] = (kind, [] if labels == "-" else labels.split(","))
    return out


def series_names(fams):
    names = set()
    for name, (kind, _) in fams.items():
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def metric_names():
    allowed = series_names(families())
    texts = {
        "prometheus/alerts.yml": open(os.path.join(HERE, "prometheus/alerts.yml"), encoding="utf-8").read(),
        "grafana/cdssd-dashboard.json": open(os.path.join(HERE, "grafana/cdssd-dashboard.json"), encoding="utf-8").read(),
    }
    used_all = set()
    for path, text in texts.items():
        used = set(re.findall(r"\bcdssd_[a-z0-9_]+", text))
        used_all |= used
        for name in sorted(used - allowed):
            check(False, f"{path} uses {name}, which is not in metrics.txt")
    # The dashboard should show every family.
    dash = set(re.findall(r"\bcdssd_[a-z0-9_]+", texts["grafana/cdssd-dashboard.json"]))
    for name, (kind, _) in families().items():
        shown = name in dash or (kind == "histogram" and name + "_bucket" in dash)
        check(shown, f"the dashboard shows no panel for {name}")
    print(f"metric-names: {len(used_all)} names referenced, {len(families())} families listed")


def dashboard_rules(out):
    dash = json.load(open(os.path.join(HERE, "grafana/cdssd-dashboard.json"), encoding="utf-8"))
    rules = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            expr = (t["expr"].replace("$__rate_interval", "1m").replace("$__range", "1h")
                    .replace("$job", ".*").replace("$instance", ".*"))
            rules.append({"record": f"dashboard:panel_{p['id']}_{t['refId']}", "expr": expr})
    check(len(rules) > 20, f"only {len(rules)} dashboard queries found")
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "duplicate panel ids in the dashboard")
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    print(f"dashboard-rules: {len(rules)} queries written to {out}")


def compose():
    c = yaml.safe_load(open(os.path.join(HERE, "compose.yaml"), encoding="utf-8"))
    s = c.get("services", {})
    for name in ("cdssd", "llm", "prometheus", "grafana"):
        check(name in s, f"compose.yaml lacks service {name}")
    for name, svc in s.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                check(os.path.exists(os.path.join(HERE, src)), f"compose.yaml: {name} mounts missing {src}")
        b = svc.get("build")
        if b:
            ctx = os.path.join(HERE, b.get("context", "."))
            df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
            check(os.path.exists(df), f"compose.yaml: {name} builds from missing {df}")
    cd = s.get("cdssd", {})
    check(cd.get("read_only") is True, "compose.yaml: cdssd is not read_only")
    check("ALL" in cd.get("cap_drop", []), "compose.yaml: cdssd keeps capabilities")
    env = cd.get("environment", {})
    check(env.get("CDSSD__LLM__BASE_URL", "").startswith("http://llm:"), "compose.yaml: cdssd does not point at the llm service")
    mounted = {v.split(":")[1]: v.split(":")[0] for v in cd.get("volumes", []) if ":" in v}
    cfg = env.get("CDSSD_CONFIG")
    check(cfg is None or cfg in mounted, f"compose.yaml: CDSSD_CONFIG {cfg} is not mounted")
    prom = yaml.safe_load(open(os.path.join(HERE, "prometheus/prometheus.yml"), encoding="utf-8"))
    targets = [t for j in prom["scrape_configs"] if j["job_name"] == "cdssd"
               for sc in j["static_configs"] for t in sc["targets"]]
    check(targets == ["cdssd:9464"], f"prometheus.yml scrapes {targets}, expected the compose service cdssd:9464")
    print(f"compose: {len(s)} services")


def dockerfile(path, context):
    """COPY sources (outside multi-stage --from) exist in the build context; the image
    runs as non-root with a HEALTHCHECK; the base images are pinned by tag."""
    text = open(os.path.join(HERE, path), encoding="utf-8").read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    ctx = os.path.normpath(os.path.join(HERE, context))
    copies = 0
    for line in lines:
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for src in [w for w in words[1:-1] if not w.startswith("--")]:
            copies += 1
            check(src == "." or os.path.exists(os.path.join(ctx, src)), f"{path}: COPY source {src} missing from the build context")
    users = [l.split()[1] for l in lines if l.split()[:1] == ["USER"]]
    check(users and users[-1].split(":")[0] not in ("0", "root"), f"{path}: the final stage runs as root")
    check(any(l.startswith("HEALTHCHECK") for l in lines), f"{path}: no HEALTHCHECK")
    for l in lines:
        if l.startswith("FROM "):
            image = l.split()[1]
            check(":" in image or image.startswith("$"), f"{path}: base image {image} has no tag")
    print(f"dockerfile {path}: {copies} COPY sources")


def drain_seconds(toml_text):
    m = re.search(r"^drain_grace_ms\s*=\s*(\d+)", toml_text, re.M)
    return int(m.group(1)) / 1000 if m else 10.0


def k8s(path, variant):
    docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    for k in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget",
              "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "ServiceAccount"):
        check(k in kinds, f"{path}: no {k}")
    dep = kinds["Deployment"][0]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check("grpc" in c.get(probe, {}), f"{path}: {probe} is not a gRPC health probe")
    check(c["readinessProbe"]["grpc"].get("service") == "cdss.v1.CdsService", f"{path}: readiness does not ask for cdss.v1.CdsService")
    sc = c.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True, f"{path}: root filesystem writable")
    check(sc.get("allowPrivilegeEscalation") is False, f"{path}: privilege escalation allowed")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{path}: capabilities not dropped")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{path}: may run as root")
    res = c.get("resources", {})
    check("requests" in res and "memory" in res.get("limits", {}), f"{path}: requests/limits missing")
    # Grace period covers the preStop sleep plus the configured drain.
    cms = {cm["metadata"]["name"]: cm for cm in kinds["ConfigMap"]}
    cfg = next((cm for n, cm in cms.items() if n.startswith("cdssd-config")), None)
    check(cfg is not None, f"{path}: no cdssd-config ConfigMap")
    drain = drain_seconds(cfg["data"]["cdssd.toml"]) if cfg else 10
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["sleep", "0"])
    pre_s = float(pre[-1]) if pre[0] == "sleep" else 0
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace >= pre_s + drain, f"{path}: terminationGracePeriodSeconds {grace} < preStop {pre_s} + drain {drain}")
    # Rules come from the ConfigMap as a projected volume (atomic ..data swap), not subPath.
    vols = {v["name"]: v for v in pod["volumes"]}
    rules = vols.get("rules", {})
    check("projected" in rules and "emptyDir" not in rules, f"{path}: rules volume is not the projected ConfigMap")
    check(all("subPath" not in m for m in c.get("volumeMounts", [])), f"{path}: subPath mounts never receive ConfigMap updates")
    check("cdssd-rules" in cms, f"{path}: no cdssd-rules ConfigMap")
    if "cdssd-rules" in cms and "projected" in rules:
        # One ConfigMap per pack, all projected into the one rules volume.
        rule_cms = {n: cm for n, cm in cms.items() if n == "cdssd-rules" or n.startswith("cdssd-rules-")}
        keys = {(n, k) for n, cm in rule_cms.items() for k in cm.get("data", {})}
        items = {(s["configMap"]["name"], i["key"]) for s in rules["projected"]["sources"]
                 for i in s["configMap"].get("items", [])}
        check(keys == items, f"{path}: rules ConfigMap keys and volume items differ")
        check(len(keys) > 0, f"{path}: the rules ConfigMaps hold no file")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports == {"grpc": 50051, "metrics": 9464}, f"{path}: container ports {ports}")
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    check(hpa["minReplicas"] >= 2, f"{path}: HPA minReplicas below 2 leaves no instance during a rollout")
    pdb = kinds["PodDisruptionBudget"][0]["spec"]
    check(pdb["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], f"{path}: PDB selects other pods")
    np = kinds["NetworkPolicy"][0]["spec"]
    check(np["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], f"{path}: NetworkPolicy selects other pods")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for svc in kinds["Service"]:
        sel = svc["spec"]["selector"]
        check(all(labels.get(k) == v for k, v in sel.items()), f"{path}: Service {svc['metadata']['name']} selects no cdssd pod")
    sm = kinds["ServiceMonitor"][0]["spec"]
    check(sm["endpoints"][0]["port"] == "metrics", f"{path}: ServiceMonitor does not scrape the metrics port")
    gpu = c["resources"].get("limits", {}).get("nvidia.com/gpu")
    if variant == "gpu":
        check(gpu == 1, f"{path}: GPU variant does not request nvidia.com/gpu")
        check('device = "cuda"' in cfg["data"]["cdssd.toml"], f"{path}: GPU variant does not set device = cuda")
    else:
        check(gpu is None, f"{path}: CPU variant requests a GPU")
    print(f"k8s {variant}: {len(docs)} objects")


def main(argv):
    cmd = argv[0] if argv else ""
    if cmd == "metric-names":
        metric_names()
    elif cmd == "dashboard-rules" and len(argv) == 2:
        dashboard_rules(argv[1])
    elif cmd == "dockerfile" and len(argv) == 3:
        dockerfile(argv[1], argv[2])
    elif cmd == "compose":
        compose()
    elif cmd == "k8s" and len(argv) in (2, 3):
        k8s(argv[1], argv[2] if len(argv) == 3 else "cpu")
    else:
        sys.exit(__doc__)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
