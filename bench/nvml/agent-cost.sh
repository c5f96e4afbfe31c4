#!/usr/bin/env bash
# The agent's CPU per tick on a GPU machine, with the GPU collector on and off (40 s each, 250 ms).
#
#   bench/nvml/agent-cost.sh [path to a published efa-agent] [seconds]
#
# On-CPU time of all its threads from /proc/<pid>/task/*/schedstat; the difference is what the GPU
# collector costs on this machine's GPUs and driver. Prints the metrics it ends with to stdout's tail.
set -euo pipefail
agent="${1:-efa-agent}"
seconds="${2:-40}"
port=19480

on_cpu_us() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s / 1000 }'
}

measure() {
    local name="$1"
    shift
    port=$((port + 1))
    "$agent" --web.listen-address=127.0.0.1:"$port" "$@" >"/tmp/efa-agent-cost-$name.log" 2>&1 &
    local pid=$!
    sleep 6
    local c0 t0 c1 t1
    c0="$(on_cpu_us "$pid")"
    t0="$(date +%s%N)"
    sleep "$seconds"
    c1="$(on_cpu_us "$pid")"
    t1="$(date +%s%N)"
    curl -s "127.0.0.1:$port/metrics" >"/tmp/efa-agent-cost-$name.prom"
    kill -TERM "$pid"
    wait "$pid" || true
    awk -v name="$name" -v c="$((c1 - c0))" -v ms="$(((t1 - t0) / 1000000))" \
        'BEGIN { printf "%-12s %9d us on-CPU in %d ms: %8.1f us per 250 ms tick\n", name, c, ms, c / (ms / 250) }'
}

measure gpu-on
measure gpu-off --no-collector.gpu
grep -E '^efa_agent_collector_duration_seconds\{collector="gpu"\}|^gpu_nvml_up' /tmp/efa-agent-cost-gpu-on.prom || true
