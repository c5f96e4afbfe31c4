#!/usr/bin/env bash
# Check everything under deploy/prometheus with promtool:
#   1. promtool check config     on each scrape config (and the rules they load)
#   2. promtool check rules      on the recording and alerting rules
#   3. promtool test rules       on tests/*.test.yml (every alert fires when it
#                                should and stays silent when healthy)
#   4. relabelling               `promtool check service-discovery` on the
#                                static and file_sd configs, and on the EC2
#                                config with its discovery replaced by a fixture
#                                of __meta_ec2_* labels; the resulting
#                                __address__/node/cluster must match
#                                tests/*-expected.txt
#   5. alert metadata            every alert has severity critical|warning|info
#                                and summary, description and runbook
# Runs every check, then exits non-zero if any failed.
#
# Needs: promtool (Debian: prometheus), jq; python3 with PyYAML for step 5.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

for tool in promtool jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check.sh: $tool not found" >&2
        exit 2
    fi
done

failed=()
run() {
    local name="$1"
    shift
    echo "== $name"
    if "$@"; then
        echo "-- ok: $name"
    else
        echo "-- FAILED: $name" >&2
        failed+=("$name")
    fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

configs=(prometheus-static.yml prometheus-file-sd.yml prometheus-ec2-sd.yml)
rules=(rules/efa-agent-recording.yml rules/efa-agent-alerts.yml)

for config in "${configs[@]}"; do
    run "check config $config" promtool check config "$config"
done
run "check rules" promtool check rules "${rules[@]}"
run "test rules" promtool test rules tests/*.test.yml

# The labels relabelling gives each discovered target, one sorted line each.
targets_of() {
    promtool check service-discovery --timeout=10s "$1" efa-agent 2>/dev/null |
        jq -r '.[] | .labels |
            [.__address__, "node=\(.node)", "cluster=\(.cluster)"]
            + (if .availability_zone then ["availability_zone=\(.availability_zone)"] else [] end)
            + (if .private_dns then ["private_dns=\(.private_dns)"] else [] end)
            | join(" ")' | sort
}

expect_targets() {
    local config="$1" expected="$2" got
    got="$(targets_of "$config")"
    if [ "$got" = "$(sort "$expected")" ]; then
        printf '%s\n' "$got"
    else
        echo "relabelling of $config differs from $expected:" >&2
        diff <(printf '%s\n' "$got") <(sort "$expected") >&2 || true
        return 1
    fi
}

# prometheus-ec2-sd.yml with ec2_sd_configs swapped for the fixture, so the
# relabel_configs run unchanged without AWS.
ec2_as_file_sd() {
    awk -v fixture="$here/tests/ec2-sd-targets.yml" '
        /^    ec2_sd_configs:/ { skipping = 1
                                 print "    file_sd_configs:"
                                 print "      - files: [\"" fixture "\"]"
                                 next }
        skipping && /^    [a-z_]+:/ { skipping = 0 }
        !skipping { print }
    ' prometheus-ec2-sd.yml >"$work/prometheus-ec2-as-file-sd.yml"
    if grep -q ec2_sd_configs "$work/prometheus-ec2-as-file-sd.yml"; then
        echo "could not replace ec2_sd_configs" >&2
        return 1
    fi
    expect_targets "$work/prometheus-ec2-as-file-sd.yml" tests/ec2-sd-expected.txt
}

run "relabel prometheus-static.yml" expect_targets prometheus-static.yml tests/static-expected.txt
run "relabel prometheus-file-sd.yml" expect_targets prometheus-file-sd.yml tests/file-sd-expected.txt
run "relabel prometheus-ec2-sd.yml (fixture)" ec2_as_file_sd

alert_metadata() {
    python3 - "$@" <<'EOF'
import sys
import yaml

bad = 0
count = 0
for path in sys.argv[1:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            count += 1
            name = rule["alert"]
            severity = rule.get("labels", {}).get("severity")
            if severity not in ("critical", "warning", "info"):
                print(f"{path}: {name}: severity is {severity!r}")
                bad += 1
            for key in ("summary", "description", "runbook"):
                if not str(rule.get("annotations", {}).get(key, "")).strip():
                    print(f"{path}: {name}: no {key} annotation")
                    bad += 1
print(f"{count} alerts checked")
sys.exit(1 if bad else 0)
EOF
}
if python3 -c 'import yaml' >/dev/null 2>&1; then
    run "alert metadata" alert_metadata "${rules[@]}"
else
    echo "== alert metadata: SKIPPED (python3 with PyYAML not found)"
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "PASS: all Prometheus checks"
