#!/usr/bin/env bash
# Compressed soak: the agent on the p5 fixture (32 EFA devices, 1,152 counter files) at a 10 ms
# sample interval, scraped every 100 ms, for a while (default 600 s). Every 10 s it records the
# agent's RSS, open descriptors, ticks and tick overruns; at the end it prints them with the scrape
# count and the agent's CPU time. Loopback only. Results go in docs/reliability.md.
#
#   bench/soak.sh [seconds] [agent-binary]
#
# Without a binary it builds src/Agent (Release) into a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
agent=${2:-}
work=$(mktemp -d)
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

if [ -z "$agent" ]; then
    dotnet build src/Agent/Agent.csproj -c Release -o "$work/agent" >/dev/null
    agent="$work/agent/efa-agent"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fixture=tests/fixtures/p5-617
"$agent" --path.sysfs="$fixture/sys" --path.procfs="$fixture/proc" --no-collector.gpu \
    --sample.interval=10ms --discovery.interval=1s --web.listen-address="127.0.0.1:$port" >"$work/agent.log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port/metrics"
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

metric() { curl -sf "$url" | awk -v m="$1" '$1 == m { print $2 }'; }
cpu() { awk '{ printf "%.1f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$pid/stat"; }
sample() {
    printf '| %4d | %6d | %4d | %8s | %5s | %6s |\n' "$1" \
        "$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status")" \
        "$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)" \
        "$(metric efa_agent_ticks_total)" "$(metric efa_agent_tick_overruns_total)" "$(cpu)"
}

# The scraper: one GET every 100 ms, counting answers and failures.
(
    ok=0; failed=0
    end=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$end" ]; do
        if curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "$url"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
        sleep 0.1
    done
    echo "$ok $failed" >"$work/scrapes"
) &
scraper=$!

echo "efa-agent soak: p5 fixture, --sample.interval=10ms, a scrape every 100 ms, ${seconds} s"
echo
echo "|    s | RSS MB |  fds |    ticks | overruns | CPU s |"
echo "|-----:|-------:|-----:|---------:|------:|-------:|"
start=$SECONDS
sample 0
while kill -0 "$scraper" 2>/dev/null; do
    sleep 10
    sample $((SECONDS - start))
done
wait "$scraper"
read -r ok failed <"$work/scrapes"
echo
echo "scrapes answered: $ok, failed: $failed; agent still running: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
echo "warnings and errors in the agent's log: $(grep -cE ' (WRN|ERR|FTL) ' "$work/agent.log" || true)"
