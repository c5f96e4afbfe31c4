#!/usr/bin/env bash
# Check the Grafana material without a Grafana server:
#   1. dashboards/*.json are what generate.py produces (no hand edits lost);
#   2. check.py: structure (datasource variable everywhere, units, descriptions,
#      ids, layout, metric names) and every query evaluated by promtool against
#      a fixture plus the recording and alerting rules;
#   3. the metric names in the dashboards and in deploy/prometheus/rules are
#      all exported by the agent, recorded by the rules or made by Prometheus;
#   4. the provisioning files are valid YAML with the expected keys.
# Needs python3 and promtool; PyYAML for steps 3 and 4.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0

echo "== dashboards up to date with generate.py"
python3 "$here/generate.py" --check || status=1

echo "== dashboards (structure and queries)"
python3 "$here/check.py" || status=1

echo "== metric names used by the dashboards and the Prometheus rules"
if python3 -c 'import yaml' >/dev/null 2>&1; then
    if names="$(python3 "$here/check.py" --list-metrics)"; then
        echo "ok: all known to the agent, the recording rules or Prometheus"
    else
        printf '%s\n' "$names" | sed -n '/^# UNKNOWN/p' >&2
        status=1
    fi
else
    echo "SKIPPED (python3 with PyYAML not found)"
fi

echo "== provisioning files"
if python3 -c 'import yaml' >/dev/null 2>&1; then
    python3 - "$here/provisioning" <<'PY' || status=1
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
ds = yaml.safe_load((root / "datasources" / "prometheus.yml").read_text())
assert ds["apiVersion"] == 1, "datasources: apiVersion"
assert any(d["type"] == "prometheus" for d in ds["datasources"]), "no prometheus data source"
dash = yaml.safe_load((root / "dashboards" / "efa-agent.yml").read_text())
assert dash["apiVersion"] == 1, "dashboards: apiVersion"
(provider,) = dash["providers"]
assert provider["type"] == "file" and provider["options"]["path"], "dashboards: file provider with a path"
print("ok: provisioning files")
PY
else
    echo "SKIPPED (python3 with PyYAML not found)"
fi

if [ "$status" -eq 0 ]; then
    echo "PASS: all Grafana checks"
else
    echo "FAIL" >&2
fi
exit "$status"
