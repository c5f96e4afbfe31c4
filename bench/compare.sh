#!/usr/bin/env bash
# efa-agent beside the C floor (bench/floor.c) and node_exporter, on one fixture tree, in one run.
#
#   bench/compare.sh
#
# Builds the NativeAOT agent (as the package ships it) and the floor program, copies
# tests/fixtures/p5-617 (32 EFA devices) to a scratch tree whose /proc/net/dev has 40 interfaces,
# runs the three on it and writes bench/results/latest.md: CPU per tick against the floor, share of
# one core at 100 ms and 250 ms, CPU per scrape against node_exporter (infiniband and netdev
# collectors only) for 1 and 16 concurrent scrapers, scrape latency, RSS idle and after a burst,
# tick overruns during the burst, and a long run's RSS and CPU over time.
#
# CPU is the on-CPU time of each process (the scheduler's count, /proc/<pid>/task/*/schedstat, for
# the ticks; utime+stime from /proc/<pid>/stat for the scrapes), never wall time: the figures that
# matter are the ratios, measured side by side in the same minutes on the same (shared) machine.
#
# Environment:
#   AGENT=<path>        a published efa-agent to use instead of building one
#   TICK_SECONDS=60     time each of the agent and the floor is measured, per interval
#   ROUNDS=12           turns that time is split into (each a whole number of discovery intervals)
#   SCRAPE_SECONDS=20   length of each scrape measurement
#   BURST=1600          scrapes in the unthrottled 16-scraper burst
#   LONG_SECONDS=600    length of the long run (0 skips it)
#   OUT=bench/results/latest.md
#   TREE_DIR=/dev/shm   where the scratch tree goes: a tmpfs, so that its files stay in memory as
#                       sysfs does (on a disk file system the page cache may be reclaimed under the
#                       run, and reads then wait for the disk); the work directory when not writable
#
# Needs: the .NET SDK (unless AGENT is set), cc, curl, hey and prometheus-node-exporter (Debian
# packages hey and prometheus-node-exporter).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
tick_seconds="${TICK_SECONDS:-60}"
rounds="${ROUNDS:-12}"
round_seconds="$(awk "BEGIN { print $tick_seconds / $rounds }")"
# The agent's discovery interval (its default), passed explicitly: the turns are sized by it.
discovery_seconds=5
if ! awk -v t="$round_seconds" -v d="$discovery_seconds" 'BEGIN { n = t / d; exit !(n >= 1 && n == int(n)) }'; then
    echo "compare.sh: TICK_SECONDS/ROUNDS = $round_seconds s; it must be a whole number of discovery intervals ($discovery_seconds s), or the turns leave discovery out" >&2
    exit 2
fi
scrape_seconds="${SCRAPE_SECONDS:-20}"
burst="${BURST:-1600}"
long_seconds="${LONG_SECONDS:-600}"
out="${OUT:-$repo/bench/results/latest.md}"
node_exporter="$(command -v prometheus-node-exporter || command -v node_exporter || true)"
for tool in cc curl hey; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found" >&2; exit 1; }
done
[ -n "$node_exporter" ] || { echo "compare.sh: prometheus-node-exporter not found (apt-get install prometheus-node-exporter)" >&2; exit 1; }

work="$(mktemp -d)"
tree_dir="${TREE_DIR:-/dev/shm}"
if [ -d "$tree_dir" ] && [ -w "$tree_dir" ]; then
    tree="$(mktemp -d -p "$tree_dir" efa-agent-bench.XXXXXX)"
else
    tree="$work/tree"
    mkdir -p "$tree"
fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work" "$tree"
}
trap cleanup EXIT
hz="$(getconf CLK_TCK)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- build --------------------------------------------------------------------------------------
agent="${AGENT:-}"
# The commit the agent is built from, taken now: the tree may move on during the 20 minutes.
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$agent" ]; then commit="unknown (AGENT=$agent)"; fi
if [ -z "$agent" ]; then
    echo "== dotnet publish (NativeAOT)"
    dotnet publish "$repo/src/Agent/Agent.csproj" -c Release -r linux-x64 -p:PublishAot=true \
        --artifacts-path "$work/artifacts" -o "$work/agent" >"$work/publish.log" 2>&1 \
        || { cat "$work/publish.log" >&2; exit 1; }
    agent="$work/agent/efa-agent"
fi
cc -O2 -o "$work/floor" "$repo/bench/floor.c"

# ---- the tree: the p5 fixture, with 40 interfaces in /proc/net/dev -----------------------------
cp -a "$repo/tests/fixtures/p5-617/." "$tree/"
tree_fs="$(stat -f -c %T "$tree")"
{
    echo "Inter-|   Receive                                                |  Transmit"
    echo " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed"
    echo "    lo: 123456789 1234567 0 0 0 0 0 0 123456789 1234567 0 0 0 0 0 0"
    for i in $(seq 0 38); do
        printf ' enp%ds0: %d %d 0 0 0 0 0 %d %d %d 0 0 0 0 0 0\n' $((71 + i)) $((1000000000 + i * 7919)) $((900000 + i)) $((i * 3)) $((2000000000 + i * 104729)) $((1800000 + i))
    done
} >"$tree/proc/net/dev"
counter_files="$(printf '%s\n' "$tree"/sys/class/infiniband/*/ports/*/hw_counters/* | grep -vc '/lifespan$')"
devices="$(find "$tree/sys/class/infiniband/" -mindepth 1 -maxdepth 1 | wc -l)"
interfaces="$(($(wc -l <"$tree/proc/net/dev") - 2))"

# ---- helpers ------------------------------------------------------------------------------------
# On-CPU time in ns of every thread (the scheduler's own count, finer than /proc/<pid>/stat's clock
# ticks); for the steady tick phase, where no thread comes or goes.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }
cpu() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# RSS as anonymous + file-backed (the executable's own pages, clean and shared with the page cache).
rss_split() { awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { printf "%.1f + %.1f", a / 1024, f / 1024 }' "/proc/$1/status"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }
wait_up() {
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$1$2" && return 0
        sleep 0.1
    done
    echo "compare.sh: nothing answers on :$1$2" >&2
    exit 1
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The agent runs with the environment its systemd unit gives it (the malloc settings).
unit_env="$(sed -n 's/^Environment=//p' "$repo/deploy/systemd/efa-agent.service")"
start_agent() { # interval port
    # shellcheck disable=SC2086 # the unit's Environment= line is a list of assignments
    env $unit_env "$agent" --path.sysfs="$tree/sys" --path.procfs="$tree/proc" --no-collector.gpu \
        --discovery.interval="${discovery_seconds}s" --sample.interval="$1" --web.listen-address="127.0.0.1:$2" --log.level=warn >>"$work/agent.log" 2>&1 &
    pids+=($!)
    wait_up "$2" /healthz
}
hey_run() { # out-file hey-args...
    local file="$1"; shift
    hey "$@" >"$file" 2>&1
}
hey_count() { awk '/^  \[200\]/ { print $2 }' "$1"; }
hey_pct() { awk -v p="$2%" '$1 == p { v = sprintf("%.1f", $3 * 1000) } END { print (v == "" ? "n/a" : v) }' "$1"; }

# ---- CPU per tick: the agent and the floor in turns, at 100 ms and 250 ms ------------------------
# Both run on the same tree at the same interval, but never at the same moment: run side by side on
# a small machine, the two tick loops compete for the same cores and caches, and how much depends on
# how their ticks happen to line up, which moves the ratio by +-15 % from run to run. So each turn
# resumes one (SIGCONT), lets it settle for half a second, measures it alone for
# TICK_SECONDS/ROUNDS seconds and freezes it again (SIGSTOP); ROUNDS rounds of one turn each, and
# the sums give the figures; the spread of the per-round ratios goes in the table.
# The order of the two turns flips every round (agent first, then floor first): with a fixed order,
# the same binary run as both sides read about 6 % cheaper in the second turn than in the first.
# Ticks are counted from the wall time of the turn for both (the agent's would need a scrape right
# before its turn, which the floor's does not have).
# A resumed agent catches up at once: it skips missed ticks and runs the discovery that fell due
# while it was stopped, in the half second before its turn opens. The next discovery comes a whole
# interval later, so a turn of 3 s holds none, and a turn of one interval (or of k) holds one (or k):
# its rate, as on a node. Turns are therefore whole discovery intervals (checked above). With 3 s
# turns (7e27d87 to 191f287) the tick figures left discovery out: 13 % of the agent's CPU at 250 ms.
turn() { # pid -> "on-CPU-ns wall-seconds" of one turn
    local c0 c1 w0 w1
    kill -CONT "$1"; sleep 0.5
    c0="$(cpu_ns "$1")"; w0="$(now)"
    sleep "$round_seconds"
    c1="$(cpu_ns "$1")"; w1="$(now)"
    kill -STOP "$1"
    calc "%.0f %.6f" "$c1 - $c0, $w1 - $w0"
}
declare -A tick_agent tick_floor share_agent share_floor tick_spread
for ms in 100 250; do
    echo "== CPU per tick at ${ms} ms (${rounds} rounds, ${tick_seconds} s each side)"
    port="$(free_port)"
    start_agent "${ms}ms" "$port"
    apid="${pids[-1]}"
    "$work/floor" "$tree/sys" "$tree/proc" "$ms" >"$work/floor.log" &
    pids+=($!)
    fpid=$!
    sleep 3
    kill -STOP "$fpid" "$apid"
    a_ns=0; a_wall=0; f_ns=0; f_wall=0; ratios=""
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            read -r an aw <<<"$(turn "$apid")"; read -r fn fw <<<"$(turn "$fpid")"
        else
            read -r fn fw <<<"$(turn "$fpid")"; read -r an aw <<<"$(turn "$apid")"
        fi
        a_ns="$(calc %.0f "$a_ns + $an")"; a_wall="$(calc %.6f "$a_wall + $aw")"
        f_ns="$(calc %.0f "$f_ns + $fn")"; f_wall="$(calc %.6f "$f_wall + $fw")"
        ratios+="$(calc %.4f "($an / $aw) / ($fn / $fw)") "
    done
    kill -CONT "$apid"
    tick_agent[$ms]="$(calc %.3f "$a_ns / 1e6 / ($a_wall * 1000 / $ms)")"
    tick_floor[$ms]="$(calc %.3f "$f_ns / 1e6 / ($f_wall * 1000 / $ms)")"
    share_agent[$ms]="$(calc %.2f "$a_ns / 1e7 / $a_wall")"
    share_floor[$ms]="$(calc %.2f "$f_ns / 1e7 / $f_wall")"
    tick_spread[$ms]="$(tr ' ' '\n' <<<"$ratios" | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "rounds %.2f-%.2f", v[1], v[NR] }')"
    kill -CONT "$fpid"; kill "$fpid"
    if [ "$ms" = 250 ]; then kill "$apid"; fi
    if [ "$ms" = 100 ]; then agent_port="$port"; agent_pid="$apid"; fi
done
floor_files="$(awk '{ print $2 }' "$work/floor.log")"

# ---- scrapes: the 100 ms agent (still running) and node_exporter --------------------------------
ne_port="$(free_port)"
"$node_exporter" --collector.disable-defaults --collector.infiniband --collector.netdev \
    --no-collector.netdev.netlink --path.sysfs="$tree/sys" --path.procfs="$tree/proc" \
    --web.listen-address="127.0.0.1:$ne_port" --log.level=warn >"$work/node_exporter.log" 2>&1 &
pids+=($!)
ne_pid=$!
wait_up "$ne_port" /metrics
sleep 1
ne_version="$("$node_exporter" --version 2>&1 | head -1 | awk '{ print $3 }')"
rss_idle_agent="$(rss_mb "$agent_pid")"; rss_idle_ne="$(rss_mb "$ne_pid")"
split_idle_agent="$(rss_split "$agent_pid")"; split_idle_ne="$(rss_split "$ne_pid")"
size() { curl -s "$@" | wc -c | awk '{ printf "%.0f", $1 / 1024 }'; }
size_agent="$(size "http://127.0.0.1:$agent_port/metrics") / $(size -H 'Accept-Encoding: gzip' "http://127.0.0.1:$agent_port/metrics")"
size_ne="$(size "http://127.0.0.1:$ne_port/metrics") / $(size -H 'Accept-Encoding: gzip' "http://127.0.0.1:$ne_port/metrics")"
efa_series="$(curl -s "http://127.0.0.1:$ne_port/metrics" | grep -c '^node_infiniband' || true)"

# Every scraper scrapes once per 100 ms, the agent's interval: one scraper alone gets a new snapshot
# each time (a render per scrape), sixteen share one (a render per sixteen scrapes). hey asks for gzip.
declare -A scrape_cpu p50 p99 renders_per
for c in 1 16; do
    for target in agent ne; do
        echo "== $c scraper(s) of $target (${scrape_seconds} s)"
        if [ "$target" = agent ]; then port="$agent_port"; pid="$agent_pid"; else port="$ne_port"; pid="$ne_pid"; fi
        [ "$target" = agent ] && { t0="$(metric "$port" efa_agent_ticks_total)"; r0="$(metric "$port" 'efa_agent_exposition_renders_total{format="text",encoding="gzip"}')"; }
        c0="$(cpu "$pid")"
        hey_run "$work/hey-$target-$c" -z "${scrape_seconds}s" -c "$c" -q 10 "http://127.0.0.1:$port/metrics"
        c1="$(cpu "$pid")"
        n="$(hey_count "$work/hey-$target-$c")"
        used="$(calc %.6f "($c1 - $c0) / $hz")"
        if [ "$target" = agent ]; then
            t1="$(metric "$port" efa_agent_ticks_total)"
            r1="$(metric "$port" 'efa_agent_exposition_renders_total{format="text",encoding="gzip"}')"
            # The sampler ran meanwhile: take away its measured cost per tick.
            used="$(calc %.6f "$used - (${tick_agent[100]} / 1000) * ($t1 - $t0)")"
            renders_per[$c]="$(calc %.0f "$r1 - $r0") renders for $n scrapes"
        fi
        scrape_cpu[$target-$c]="$(calc %.3f "$used * 1000 / $n")"
        p50[$target-$c]="$(hey_pct "$work/hey-$target-$c" 50)"
        p99[$target-$c]="$(hey_pct "$work/hey-$target-$c" 99)"
    done
done

# ---- burst: 16 scrapers as fast as they go -------------------------------------------------------
echo "== burst of $burst scrapes, 16 at a time"
o0="$(metric "$agent_port" efa_agent_tick_overruns_total)"; t0="$(metric "$agent_port" efa_agent_ticks_total)"
hey_run "$work/burst-agent" -n "$burst" -c 16 "http://127.0.0.1:$agent_port/metrics"
o1="$(metric "$agent_port" efa_agent_tick_overruns_total)"; t1="$(metric "$agent_port" efa_agent_ticks_total)"
hey_run "$work/burst-ne" -n "$burst" -c 16 "http://127.0.0.1:$ne_port/metrics"
sleep 2
rss_burst_agent="$(rss_mb "$agent_pid")"; rss_burst_ne="$(rss_mb "$ne_pid")"
split_burst_agent="$(rss_split "$agent_pid")"; split_burst_ne="$(rss_split "$ne_pid")"
overruns="$(calc %.0f "$o1 - $o0") of $(calc %.0f "$t1 - $t0") ticks"

# ---- long run: 100 ms ticks, two scrapers once a second each ----------------------------------------
long_rows=""
if [ "$long_seconds" -gt 0 ]; then
    echo "== long run (${long_seconds} s)"
    hey -z "${long_seconds}s" -c 2 -q 1 "http://127.0.0.1:$agent_port/metrics" >"$work/hey-long" 2>&1 &
    step=$((long_seconds / 10))
    c_prev="$(cpu "$agent_pid")"; w_start="$(now)"; w_prev="$w_start"
    long_rows="| 0 s | $(rss_mb "$agent_pid") MB ($(rss_split "$agent_pid")) | |"$'\n'
    for _ in $(seq 1 10); do
        sleep "$step"
        c_now="$(cpu "$agent_pid")"; w_now="$(now)"
        long_rows+="| $(calc %.0f "$w_now - $w_start") s | $(rss_mb "$agent_pid") MB ($(rss_split "$agent_pid")) | $(calc %.2f "($c_now - $c_prev) * 100 / $hz / ($w_now - $w_prev)") % |"$'\n'
        c_prev="$c_now"; w_prev="$w_now"
    done
    wait $! || true
fi

# ---- the table ----------------------------------------------------------------------------------
ratio() { calc %.2f "$1 / $2"; }
mkdir -p "$(dirname "$out")"
{
    echo "# efa-agent beside the C floor and node_exporter"
    echo
    echo "Written by \`bench/compare.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit."
    echo
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- tree: tests/fixtures/p5-617 ($devices RDMA devices, $counter_files fast-lane counter files; the floor opened $floor_files) with $interfaces interfaces in /proc/net/dev, copied to a $tree_fs file system"
    echo "- efa-agent: NativeAOT, \`--no-collector.gpu\`, with the unit's environment ($unit_env); node_exporter $ne_version with only \`--collector.infiniband --collector.netdev --no-collector.netdev.netlink\`"
    echo "- CPU per tick: on-CPU ns of all threads from /proc/<pid>/task/*/schedstat over ${tick_seconds} s each, agent and floor in $rounds rounds of one turn each (the other one stopped), the order flipping every round, ticks counted from the wall time of each turn; CPU per scrape: utime+stime from /proc/<pid>/stat (1/$hz s), the agent's with its sampler's measured cost per tick taken away"
    echo
    echo "| figure | efa-agent | reference | ratio |"
    echo "|---|---|---|---|"
    for ms in 100 250; do
        echo "| CPU per tick, ${ms} ms interval | ${tick_agent[$ms]} ms | floor: ${tick_floor[$ms]} ms | $(ratio "${tick_agent[$ms]}" "${tick_floor[$ms]}") (${tick_spread[$ms]}) |"
    done
    for ms in 100 250; do
        echo "| share of one core, ${ms} ms interval | ${share_agent[$ms]} % | floor: ${share_floor[$ms]} % | $(ratio "${share_agent[$ms]}" "${share_floor[$ms]}") |"
    done
    echo "| exposition KB, plain / gzip | $size_agent | node_exporter: $size_ne ($efa_series node_infiniband series) | |"
    for c in 1 16; do
        echo "| CPU per scrape, $c scraper(s) at 10/s each | ${scrape_cpu[agent-$c]} ms | node_exporter: ${scrape_cpu[ne-$c]} ms | $(ratio "${scrape_cpu[agent-$c]}" "${scrape_cpu[ne-$c]}") |"
    done
    for c in 1 16; do
        echo "| scrape latency p50 / p99, $c scraper(s) | ${p50[agent-$c]} / ${p99[agent-$c]} ms | node_exporter: ${p50[ne-$c]} / ${p99[ne-$c]} ms | |"
    done
    echo "| renders (text, gzip), 1 / 16 scrapers | ${renders_per[1]} / ${renders_per[16]} | | |"
    echo "| burst of $burst scrapes, 16 at a time, p50 / p99 | $(hey_pct "$work/burst-agent" 50) / $(hey_pct "$work/burst-agent" 99) ms | node_exporter: $(hey_pct "$work/burst-ne" 50) / $(hey_pct "$work/burst-ne" 99) ms | |"
    echo "| tick overruns during the burst | $overruns | | |"
    echo "| RSS idle | $rss_idle_agent MB | node_exporter: $rss_idle_ne MB | $(ratio "$rss_idle_agent" "$rss_idle_ne") |"
    echo "| RSS after the burst | $rss_burst_agent MB | node_exporter: $rss_burst_ne MB | $(ratio "$rss_burst_agent" "$rss_burst_ne") |"
    echo "| of which anonymous + file-backed, idle | $split_idle_agent MB | node_exporter: $split_idle_ne MB | |"
    echo "| of which anonymous + file-backed, after the burst | $split_burst_agent MB | node_exporter: $split_burst_ne MB | |"
    if [ -n "$long_rows" ]; then
        echo
        echo "Long run: ${long_seconds} s at 100 ms, two scrapers once a second each (RSS, as anonymous + file-backed, and the share of one core since the row before)."
        echo
        echo "| time | RSS | CPU |"
        echo "|---|---|---|"
        printf '%s' "$long_rows"
    fi
} >"$out"
cat "$out"
