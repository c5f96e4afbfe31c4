#!/usr/bin/env bash
# Run every deploy check: shellcheck on the scripts, then the systemd,
# Prometheus and Grafana checks. Exits non-zero if any fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
failed=()

echo "### shellcheck"
if shellcheck "$here"/check.sh "$here"/systemd/*.sh "$here"/prometheus/*.sh "$here"/grafana/*.sh &&
    shellcheck -s sh "$here"/systemd/debian/postinst "$here"/systemd/debian/prerm "$here"/systemd/debian/postrm; then
    echo "ok: shellcheck"
else
    failed+=(shellcheck)
fi

for part in systemd prometheus grafana; do
    echo
    echo "### $part"
    if ! "$here/$part/check.sh"; then
        failed+=("$part")
    fi
done

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "PASS: all deploy checks"
