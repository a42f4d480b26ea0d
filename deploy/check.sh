#!/usr/bin/env bash
# `make deploy-check`: check the Prometheus rules (promtool check rules, and their unit tests with
# promtool test rules) and that the Grafana dashboard is JSON; render the kustomize base and every
# overlay, validate the result offline against the Kubernetes OpenAPI schemas (strict: an unknown
# field is an error) for the oldest and the newest Kubernetes version we support, then lint it
# with checkov. Offline; exits non-zero on the first failure. (That the dashboard and the rules
# name only metrics guichet exports is a test of `make test`: tests/it/operations.rs.)
#
# Environment: KUBECTL (default: kubectl), VENV (default: .venv, where `make deploy-tools` installs
# kubernetes-validate and checkov), K8S_VERSIONS (default: "1.30.0 1.37.0"), PROMTOOL (default:
# promtool, from Debian's `prometheus` package).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-kubectl}"
VENV="${VENV:-.venv}"
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.37.0}"
TARGETS=(base overlays/dev overlays/prod)

for tool in "$VENV/bin/kubernetes-validate" "$VENV/bin/checkov"; do
  [ -x "$tool" ] || { echo "deploy-check: $tool is missing: run make deploy-tools" >&2; exit 2; }
done
command -v "$KUBECTL" >/dev/null || { echo "deploy-check: $KUBECTL not found: set KUBECTL or run make deploy-tools" >&2; exit 2; }

PROMTOOL="${PROMTOOL:-promtool}"
command -v "$PROMTOOL" >/dev/null || { echo "deploy-check: $PROMTOOL not found: apt-get install prometheus (it ships promtool), or set PROMTOOL" >&2; exit 2; }
echo "--- promtool check rules, promtool test rules"
"$PROMTOOL" check rules deploy/prometheus/guichet-rules.yml
(cd deploy/prometheus && "$PROMTOOL" test rules guichet-rules.test.yml)
echo "--- grafana dashboard"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(sys.argv[1] + ": " + str(len(d["panels"])) + " panels")' deploy/grafana/guichet.json

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/overlays"

echo "--- render ($("$KUBECTL" version --client 2>/dev/null | grep -i kustomize || echo kustomize))"
for target in "${TARGETS[@]}"; do
  file="$out/${target//\//-}.yaml"
  "$KUBECTL" kustomize "deploy/$target" > "$file"
  kinds="$(grep -E '^kind: ' "$file" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')"
  echo "deploy/$target: $(grep -cE '^kind: ' "$file") objects (${kinds%, })"
  case "$target" in overlays/*) cp "$file" "$out/overlays/" ;; esac
done

for version in $K8S_VERSIONS; do
  echo "--- kubernetes-validate --strict, Kubernetes $version"
  for file in "$out"/*.yaml; do
    "$VENV/bin/kubernetes-validate" --strict --no-warn --quiet -k "$version" "$file"
    echo "$(basename "$file" .yaml): valid"
  done
done

echo "--- checkov (skips and reasons: deploy/.checkov.yaml and checkov.io/skip annotations)"
# Only the overlays are what gets applied; the base is a part of them.
"$VENV/bin/checkov" --config-file deploy/.checkov.yaml --directory "$out/overlays" \
  --output cli --quiet --compact > "$out/checkov.txt" 2>&1 || status=$?
if [ "${status:-0}" -ne 0 ]; then
  cat "$out/checkov.txt"
  echo "deploy-check: checkov found failed checks (fix them, or skip one with its reason)" >&2
  exit 1
fi
grep -E '^(kubernetes scan results|Passed checks)' "$out/checkov.txt" || cat "$out/checkov.txt"
echo "deploy-check: ok"
