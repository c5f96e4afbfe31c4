#!/usr/bin/env bash
# Test the efa-agent Debian package.
#
# Usage: deploy/systemd/test-package.sh VERSION DEB [STEP...]
#
#   VERSION  the version DEB must carry, e.g. 0.0.0~test
#   DEB      the package file; the build step writes it, so it must then be
#            named efa-agent_VERSION_amd64.deb
#   STEP     any of the steps below, in the order given (default: all of them,
#            in this order):
#     build         build-deb.sh VERSION "$(dirname DEB)": a NativeAOT publish,
#                   about a minute
#     info          control fields, conffiles, maintainer scripts, and that
#                   Depends covers what the executable links against
#     contents      exactly the expected paths, modes and root:root ownership;
#                   packaged files equal their sources; md5sums match
#     run           the extracted /usr/bin/efa-agent prints its version, serves
#                   EFA metrics from the p4d fixture with the packaged config,
#                   and exits 0 on SIGTERM
#     lintian       no errors and no warnings (see step_lintian for the two
#                   overridden tags)
#     maintscripts  postinst/prerm/postrm from the package run against a
#                   throwaway root (DPKG_ROOT) with stub user and systemctl
#                   commands: fresh install, retried and repeated configure,
#                   removal, rollback, purge twice; with and without a running
#                   systemd and with and without adduser
#
# A failed check is reported and the step goes on; the script exits 1 if any
# check failed (a command failing where no check expects it stops it). Needs
# dpkg-deb, lintian, readelf (binutils), curl and python3 (for a free port).
# Nothing outside a temporary directory is changed; the agent listens on
# 127.0.0.1 only.
set -euo pipefail
set -o errtrace
export LC_ALL=C
# With pipefail, a reader that stops early (grep -q, head) can fail the
# pipeline through SIGPIPE: readers of pipes below consume all their input.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

usage() {
    echo "usage: $0 VERSION DEB [build|info|contents|run|lintian|maintscripts ...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
version="$1"
deb="$2"
shift 2
steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
    steps=(build info contents run lintian maintscripts)
fi
build=no
for step in "${steps[@]}"; do
    case "$step" in
        build) build=yes ;;
        info | contents | run | lintian | maintscripts) ;;
        *) usage ;;
    esac
done
if [ "$build" = no ] && [ ! -f "$deb" ]; then
    echo "test-package.sh: $deb not found (add the build step to build it)" >&2
    exit 2
fi

work="$(mktemp -d)"
agent_pid=
cleanup() {
    if [ -n "$agent_pid" ]; then
        kill -KILL "$agent_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "test-package.sh: line $LINENO: a command failed unexpectedly" >&2' ERR

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() {
    echo "ok: $*"
}
# expect WHAT GOT WANT: a multi-line mismatch is shown as a diff.
expect() {
    if [ "$2" = "$3" ] && [[ "$2" == *$'\n'* ]]; then
        ok "$1 ($(printf '%s\n' "$2" | wc -l) lines)"
    elif [ "$2" = "$3" ]; then
        ok "$1: $2"
    elif [[ "$2$3" == *$'\n'* ]]; then
        fail "$1 differs (- got, + want):"
        diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3 | sed 's/^/   /' >&2 || true
    else
        fail "$1: got '$2', want '$3'"
    fi
}

# The data and control areas, extracted once.
root="$work/root"
control="$work/control"
extract() {
    if [ ! -d "$root" ]; then
        dpkg-deb -x "$deb" "$root"
        dpkg-deb -e "$deb" "$control"
    fi
}

step_build() {
    local outdir
    outdir="$(dirname "$deb")"
    if [ "$(basename "$deb")" != "efa-agent_${version}_amd64.deb" ]; then
        fail "build: DEB must be named efa-agent_${version}_amd64.deb"
        return
    fi
    if "$here/build-deb.sh" "$version" "$outdir" && [ -f "$deb" ]; then
        ok "build: $deb ($(stat -c %s "$deb") bytes)"
    else
        fail "build: build-deb.sh did not produce $deb"
    fi
}

step_info() {
    expect Package "$(dpkg-deb --field "$deb" Package)" efa-agent
    expect Version "$(dpkg-deb --field "$deb" Version)" "$version"
    expect Architecture "$(dpkg-deb --field "$deb" Architecture)" amd64

    local depends name names=()
    depends="$(dpkg-deb --field "$deb" Depends)"
    # Package names only: "libc6 (>= 2.34), adduser" -> libc6 adduser.
    while IFS= read -r name; do
        names+=("$name")
    done < <(printf '%s\n' "$depends" | sed 's/[,|]/\n/g' | sed 's/(.*//; s/[[:space:]]//g' | grep -v '^$')
    for name in libc6 adduser; do
        if printf '%s\n' "${names[@]}" | grep -x "$name" >/dev/null; then
            ok "Depends has $name"
        else
            fail "Depends '$depends' lacks $name"
        fi
    done

    local synopsis long
    synopsis="$(dpkg-deb --field "$deb" Description | sed -n 1p)"
    long="$(dpkg-deb --field "$deb" Description | tail -n +2 | grep -c '[^[:space:].]' || true)"
    if [ -n "$synopsis" ] && [ "$long" -ge 1 ]; then
        ok "Description: $synopsis (+$long lines)"
    else
        fail "Description needs a synopsis and a long description (got '$synopsis', $long lines)"
    fi
    local installed_size
    installed_size="$(dpkg-deb --field "$deb" Installed-Size)"
    if [[ "$installed_size" =~ ^[0-9]+$ ]] && [ "$installed_size" -gt 0 ]; then
        ok "Installed-Size: $installed_size KiB"
    else
        fail "Installed-Size: '$installed_size'"
    fi

    # dpkg-deb --info marks executable control members with '*'.
    local info script
    info="$(dpkg-deb --info "$deb")"
    for script in postinst prerm postrm; do
        if printf '%s\n' "$info" | grep -E "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script +#!/bin/sh\$" >/dev/null; then
            ok "$script: present, executable, #!/bin/sh"
        else
            fail "$script: not listed as an executable #!/bin/sh script by dpkg-deb --info"
        fi
    done
    local members
    members="$(dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - | awk '{ print $1, $2, $6 }' | sort -k3,3)"
    expect "control members" "$members" "$(
        cat <<'EOF'
drwxr-xr-x root/root ./
-rw-r--r-- root/root ./conffiles
-rw-r--r-- root/root ./control
-rw-r--r-- root/root ./md5sums
-rwxr-xr-x root/root ./postinst
-rwxr-xr-x root/root ./postrm
-rwxr-xr-x root/root ./prerm
EOF
    )"

    extract
    expect conffiles "$(sort "$control/conffiles")" "$(printf '%s\n' /etc/default/efa-agent /etc/efa-agent/config.json)"
    local script_name
    for script_name in postinst prerm postrm; do
        if cmp -s "$control/$script_name" "$here/debian/$script_name"; then
            ok "$script_name is deploy/systemd/debian/$script_name"
        else
            fail "$script_name differs from deploy/systemd/debian/$script_name"
        fi
    done

    # Depends must cover what the NativeAOT executable links against: only
    # libraries from libc6, and no symbol version newer than Depends allows.
    local needed extra glibc_need glibc_dep
    needed="$(readelf -d "$root/usr/bin/efa-agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)"
    extra="$(printf '%s\n' "$needed" | grep -Ev '^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64)\.so\.[0-9]+$' || true)"
    if [ -z "$extra" ] && [ -n "$needed" ]; then
        ok "efa-agent links only against libc6: $(printf '%s\n' "$needed" | tr '\n' ' ')"
    else
        fail "efa-agent links against libraries Depends does not cover: ${extra:-<none found>}"
    fi
    glibc_need="$(readelf -W --dyn-syms "$root/usr/bin/efa-agent" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
    glibc_dep="$(printf '%s\n' "$depends" | sed -n 's/.*libc6 *(>= *\([0-9.]*\)).*/\1/p')"
    if [ -n "$glibc_need" ] && [ -n "$glibc_dep" ] &&
        [ "$(printf '%s\n%s\n' "$glibc_need" "$glibc_dep" | sort -V | tail -n 1)" = "$glibc_dep" ]; then
        ok "efa-agent needs GLIBC_$glibc_need; Depends: libc6 (>= $glibc_dep)"
    else
        fail "efa-agent needs GLIBC_${glibc_need:-?}, but Depends says libc6 (>= ${glibc_dep:-?})"
    fi
}

step_contents() {
    local got
    got="$(dpkg-deb --contents "$deb" | awk '{ print $1, $2, $6 }' | sort -k3,3)"
    expect "contents (mode owner path)" "$got" "$(
        cat <<'EOF'
drwxr-xr-x root/root ./
drwxr-xr-x root/root ./etc/
drwxr-xr-x root/root ./etc/default/
-rw-r--r-- root/root ./etc/default/efa-agent
drwxr-xr-x root/root ./etc/efa-agent/
-rw-r--r-- root/root ./etc/efa-agent/config.json
drwxr-xr-x root/root ./lib/
drwxr-xr-x root/root ./lib/systemd/
drwxr-xr-x root/root ./lib/systemd/system/
-rw-r--r-- root/root ./lib/systemd/system/efa-agent.service
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/efa-agent
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/efa-agent/
-rw-r--r-- root/root ./usr/share/doc/efa-agent/README.md
-rw-r--r-- root/root ./usr/share/doc/efa-agent/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/efa-agent/copyright
drwxr-xr-x root/root ./usr/share/doc/efa-agent/examples/
-rw-r--r-- root/root ./usr/share/doc/efa-agent/examples/web-config.yml
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/efa-agent
EOF
    )"

    extract
    local path source
    for path in etc/default/efa-agent:deploy/systemd/efa-agent.default \
        etc/efa-agent/config.json:deploy/systemd/config.json \
        lib/systemd/system/efa-agent.service:deploy/systemd/efa-agent.service \
        usr/share/doc/efa-agent/copyright:deploy/systemd/debian/copyright \
        usr/share/doc/efa-agent/examples/web-config.yml:deploy/systemd/web-config.yml \
        usr/share/doc/efa-agent/README.md:deploy/README.md; do
        source="${path#*:}"
        path="${path%%:*}"
        if cmp -s "$root/$path" "$repo/$source"; then
            ok "/$path is $source"
        else
            fail "/$path differs from $source"
        fi
    done
    if zcat "$root/usr/share/doc/efa-agent/changelog.gz" | sed -n 1p | grep -F "efa-agent ($version) " >/dev/null; then
        ok "changelog.gz starts with the $version entry"
    else
        fail "changelog.gz does not start with 'efa-agent ($version)'"
    fi

    # md5sums: every regular file once, each sum right.
    local listed files
    listed="$(awk '{ print $2 }' "$control/md5sums" | sort)"
    files="$(cd "$root" && find . -type f | sed 's|^\./||' | sort)"
    expect "files in md5sums" "$listed" "$files"
    if (cd "$root" && md5sum --quiet -c "$control/md5sums"); then
        ok "md5sums match"
    else
        fail "md5sums do not match the packaged files"
    fi
}

step_run() {
    extract
    local bin="$root/usr/bin/efa-agent" out
    out="$("$bin" --version 2>&1)" || true
    case "$out" in
        "efa-agent $version" | "efa-agent $version "*) ok "--version: $out" ;;
        *) fail "--version printed '$out', want 'efa-agent $version'" ;;
    esac

    local port log="$work/agent.log" fixture="$repo/tests/fixtures/p4d-postsplit"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # The unit sets MemoryDenyWriteExecute=yes: run the packaged agent the way
    # systemd does on Linux 6.3+ (prctl PR_SET_MDWE, tests/native/mdwe_exec.c),
    # with NVML loaded (the fake from tests/native), so that a build needing
    # writable and executable memory fails here rather than on a node.
    local launcher=() gpu=(--no-collector.gpu) mdwe=no
    if cc -O2 -o "$work/mdwe_exec" "$repo/tests/native/mdwe_exec.c" 2>/dev/null && "$work/mdwe_exec" /bin/true 2>/dev/null &&
        mkdir -p "$work/nvml" && cc -shared -fPIC -O2 -o "$work/nvml/libnvidia-ml.so.1" "$repo"/tests/native/fake_nvml*.c -lpthread; then
        : >"$work/nvml/fake_nvml.scenario"
        launcher=("$work/mdwe_exec")
        gpu=(--nvml.library="$work/nvml/libnvidia-ml.so.1")
        mdwe=yes
    else
        echo "note: not checked under memory-deny-write-execute (no C compiler, or a kernel without PR_SET_MDWE)"
    fi

    # Only the flags below: nothing from the caller's environment (EFA_AGENT_*
    # settings, a systemd notify socket) may change what is tested.
    env -i PATH=/usr/bin:/bin "${launcher[@]}" "$bin" \
        --config.file="$root/etc/efa-agent/config.json" \
        --web.listen-address="127.0.0.1:$port" \
        --path.sysfs="$fixture/sys" \
        --path.procfs="$fixture/proc" \
        "${gpu[@]}" >"$log" 2>&1 &
    agent_pid=$!

    local metrics="" deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$agent_pid" 2>/dev/null; then
            break
        fi
        metrics="$(curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" 2>/dev/null)" || metrics=""
        if printf '%s\n' "$metrics" | grep '^efa_port_tx_bytes_total{' >/dev/null; then
            break
        fi
        sleep 0.2
    done
    if printf '%s\n' "$metrics" | grep '^efa_port_tx_bytes_total{' >/dev/null; then
        ok "/metrics has efa_port_tx_bytes_total ($(printf '%s\n' "$metrics" | grep -c '^efa_port_tx_bytes_total{') series)"
    else
        fail "/metrics on 127.0.0.1:$port never showed efa_port_tx_bytes_total"
    fi
    if [ "$mdwe" = yes ]; then
        if printf '%s\n' "$metrics" | grep '^gpu_up{.*} 1$' >/dev/null; then
            ok "under memory-deny-write-execute, with NVML loaded: $(printf '%s\n' "$metrics" | grep -c '^gpu_up{') GPUs up"
        else
            fail "under memory-deny-write-execute the agent served no gpu_up 1 (see $log)"
        fi
    fi
    if printf '%s\n' "$metrics" | grep "^efa_agent_build_info{version=\"$version\"" >/dev/null; then
        ok "efa_agent_build_info carries version $version"
    else
        fail "efa_agent_build_info does not carry version $version"
    fi

    # SIGTERM: a clean stop within the unit's TimeoutStopSec (20 s). The
    # process has exited once it is a zombie or already reaped by bash.
    local status=0 i exited=no
    kill -TERM "$agent_pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        if [ ! -e "/proc/$agent_pid" ] || [ "$(cut -d ' ' -f 3 "/proc/$agent_pid/stat" 2>/dev/null)" = Z ]; then
            exited=yes
            break
        fi
        sleep 0.1
    done
    if [ "$exited" = no ]; then
        fail "efa-agent did not exit within 20 s of SIGTERM"
        kill -KILL "$agent_pid" 2>/dev/null || true
    fi
    wait "$agent_pid" || status=$?
    agent_pid=
    expect "exit status after SIGTERM" "$status" 0
    if [ "$failures" -gt 0 ]; then
        echo "--- agent output"
        cat "$log"
        echo "---"
    fi
}

step_lintian() {
    # Three tags are overridden inside the package
    # (/usr/share/lintian/overrides/efa-agent, written by build-deb.sh):
    #   embedded-library zlib              NativeAOT links .NET's compression
    #                                      library (zlib-ng) into the binary
    #   maintainer-script-calls-systemctl  the scripts call systemctl directly
    #                                      because the package is built without
    #                                      debhelper (no deb-systemd-helper)
    #   no-manual-page                     the agent documents itself with
    #                                      --help and README.md
    # Any other warning or error fails, and so does a new override.
    local out status=0
    out="$(lintian --fail-on error,warning "$deb" 2>&1)" || status=$?
    printf '%s\n' "$out"
    if [ "$status" -eq 0 ] && ! printf '%s\n' "$out" | grep -E '^[EW]: ' >/dev/null; then
        ok "lintian: no errors or warnings"
    else
        fail "lintian reported errors or warnings (exit $status)"
    fi
    extract
    expect "lintian overrides" "$(sort "$root/usr/share/lintian/overrides/efa-agent")" "$(
        printf '%s\n' 'efa-agent: embedded-library zlib [usr/bin/efa-agent]' 'efa-agent: maintainer-script-calls-systemctl' 'efa-agent: no-manual-page'
    )"
}

# --- maintainer scripts -------------------------------------------------------
#
# The scripts run with DPKG_ROOT pointing at a copy of the package's /etc and
# /lib, PATH holding only stub commands and rm (so a missing stub cannot reach
# the host's real adduser or systemctl), and an empty environment otherwise.
# The stubs (maintscript-stub.sh) log each call to $STUB_STATE/calls and keep the users, groups and
# started units in files; systemctl enable/disable make and remove the
# multi-user.target.wants link under DPKG_ROOT, as the real one would.

# scenario NAME SYSTEMD(yes|no) VIDEO(yes|no) TOOLS(adduser|passwd)
#   A fresh throwaway host: the package's /etc and /lib unpacked under DPKG_ROOT,
#   no efa-agent user, a video group or not, systemd running or not, and the
#   adduser commands or only the passwd package's (adduser removed before purge).
scenario() {
    sc="$work/scenario-$1"
    echo "-- scenario: $1 (systemd running: $2, video group: $3, user tools: $4)"
    mkdir -p "$sc/root" "$sc/state/passwd" "$sc/state/group" "$sc/state/active" "$sc/bin"
    cp -a "$root/etc" "$root/lib" "$sc/root/"
    [ "$2" = no ] || mkdir -p "$sc/root/run/systemd/system"
    [ "$3" = no ] || : >"$sc/state/group/video"
    : >"$sc/state/calls"
    local cmd cmds=(getent id usermod systemctl)
    if [ "$4" = adduser ]; then
        cmds+=(adduser addgroup deluser delgroup useradd groupadd userdel groupdel)
    else
        cmds+=(useradd groupadd userdel groupdel)
    fi
    for cmd in "${cmds[@]}"; do
        ln -s "$here/maintscript-stub.sh" "$sc/bin/$cmd"
    done
    ln -s "$(command -v rm)" "$sc/bin/rm"
}

# maint WANT_STATUS SCRIPT ARGS... -- WANT_CALL...
#   Runs the packaged SCRIPT with ARGS; its exit status must be WANT_STATUS,
#   and the calls that change something (getent, id and is-enabled left out)
#   must be exactly WANT_CALL..., in order.
maint() {
    local want_status="$1" script="$2"
    shift 2
    local args=() want=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    [ $# -eq 0 ] || shift
    want=("$@")
    local what="$script${args[*]:+ ${args[*]}}"
    [ "${#args[@]}" -lt 2 ] || [ -n "${args[1]}" ] || what="$script ${args[0]} ''"

    local before status=0 out
    before="$(wc -l <"$sc/state/calls")"
    out="$(env -i PATH="$sc/bin" DPKG_ROOT="$sc/root" STUB_STATE="$sc/state" \
        "$control/$script" "${args[@]}" 2>&1)" || status=$?
    local calls
    calls="$(tail -n +$((before + 1)) "$sc/state/calls" |
        grep -Ev '^(getent|id) |^systemctl( --[a-z]+)* is-enabled ' || true)"
    local want_calls=""
    [ ${#want[@]} -eq 0 ] || want_calls="$(printf '%s\n' "${want[@]}")"
    if [ "$status" = "$want_status" ] && [ "$calls" = "$want_calls" ]; then
        ok "$what: exit $status, ${#want[@]} changing call(s)"
        return
    fi
    if [ "$status" != "$want_status" ]; then
        fail "$what: exit $status (want $want_status)"
    fi
    if [ "$calls" != "$want_calls" ]; then
        fail "$what: the calls that changed something differ (- got, + want):"
        diff -u <(printf '%s\n' "$calls") <(printf '%s\n' "$want_calls") | tail -n +3 | sed 's/^/   /' >&2 || true
    fi
    if [ -n "$out" ]; then
        printf '   output: %s\n' "$out" >&2
    fi
}

# state WHAT... : asserts on the throwaway host.
#   user|no-user  group|no-group  in-video|not-in-video  enabled|disabled
#   active|inactive  config|no-config
state() {
    local s="$sc/state" r="$sc/root" u=efa-agent unit=efa-agent.service w
    for w in "$@"; do
        case "$w" in
            user) [ -e "$s/passwd/$u" ] || fail "state: no user $u" ;;
            no-user) [ ! -e "$s/passwd/$u" ] || fail "state: user $u still exists" ;;
            group) [ -e "$s/group/$u" ] || fail "state: no group $u" ;;
            no-group) [ ! -e "$s/group/$u" ] || fail "state: group $u still exists" ;;
            in-video) grep -qx "$u" "$s/group/video" || fail "state: $u not in group video" ;;
            not-in-video) ! grep -qx "$u" "$s/group/video" 2>/dev/null || fail "state: $u in group video" ;;
            enabled) [ -L "$r/etc/systemd/system/multi-user.target.wants/$unit" ] || fail "state: $unit not enabled" ;;
            disabled) [ ! -L "$r/etc/systemd/system/multi-user.target.wants/$unit" ] || fail "state: $unit still enabled" ;;
            active) [ -e "$s/active/$unit" ] || fail "state: $unit not running" ;;
            inactive) [ ! -e "$s/active/$unit" ] || fail "state: $unit still running" ;;
            config) { [ -f "$r/etc/efa-agent/config.json" ] && [ -f "$r/etc/default/efa-agent" ]; } || fail "state: config missing" ;;
            no-config) [ ! -e "$r/etc/efa-agent" ] || fail "state: /etc/efa-agent still exists" ;;
            *) fail "state: unknown assertion $w" ;;
        esac
    done
}

# What dpkg itself does around the scripts.
dpkg_removes_files() {
    rm -f "$sc/root/lib/systemd/system/efa-agent.service"
}
dpkg_purges_conffiles() {
    rm -f "$sc/root/etc/efa-agent/config.json" "$sc/root/etc/default/efa-agent"
    # Left for postrm purge: a conffile backup and a `systemctl edit` drop-in.
    : >"$sc/root/etc/efa-agent/config.json.dpkg-old"
    mkdir -p "$sc/root/etc/systemd/system/efa-agent.service.d"
    : >"$sc/root/etc/systemd/system/efa-agent.service.d/override.conf"
}

step_maintscripts() {
    extract
    local u=efa-agent unit=efa-agent.service
    local addgroup="addgroup --system --quiet $u"
    local adduser="adduser --system --quiet --ingroup $u --no-create-home --home /nonexistent --shell /usr/sbin/nologin --gecos efa-agent exporter $u"
    local reload="systemctl --system daemon-reload"

    scenario systemd yes yes adduser
    maint 0 postinst configure "" -- "$addgroup" "$adduser" "usermod -a -G video $u" "$reload" "systemctl enable --now $unit"
    state user group in-video enabled active config
    # dpkg --configure again after a failure elsewhere: nothing is created twice.
    maint 0 postinst configure "" -- "$reload" "systemctl enable --now $unit"
    # Reinstall or upgrade, twice.
    maint 0 postinst configure "$version" -- "$reload" "systemctl restart $unit"
    maint 0 postinst configure "$version" -- "$reload" "systemctl restart $unit"
    state user group in-video enabled active
    # An administrator's `systemctl disable` survives an upgrade.
    rm -f "$sc/root/etc/systemd/system/multi-user.target.wants/$unit" "$sc/state/active/$unit"
    maint 0 postinst configure "$version" -- "$reload"
    state disabled inactive
    mkdir -p "$sc/root/etc/systemd/system/multi-user.target.wants"
    ln -sfn "/lib/systemd/system/$unit" "$sc/root/etc/systemd/system/multi-user.target.wants/$unit"
    maint 0 postinst configure "$version" -- "$reload" "systemctl restart $unit"
    # An upgrade leaves the old binary running until postinst restarts it.
    maint 0 prerm upgrade "$version" --
    state active
    # A removal that dpkg rolls back starts the service again.
    maint 0 prerm remove -- "systemctl stop $unit"
    state inactive
    maint 0 postinst abort-remove -- "systemctl start $unit"
    state active
    # Removal keeps the user, the config and the enable link.
    maint 0 prerm remove -- "systemctl stop $unit"
    dpkg_removes_files
    maint 0 postrm remove -- "$reload"
    state user group enabled inactive config
    # Purge removes them; a second purge finds nothing to do and succeeds.
    dpkg_purges_conffiles
    maint 0 postrm purge -- "deluser --system --quiet $u" "delgroup --system --quiet $u" "$reload" "systemctl reset-failed $unit"
    state no-user no-group not-in-video disabled no-config
    [ ! -e "$sc/root/etc/systemd/system/$unit.d" ] || fail "state: the $unit.d drop-in directory is left"
    maint 0 postrm purge -- "$reload" "systemctl reset-failed $unit"
    state no-user no-group no-config
    # Unknown actions are refused.
    maint 1 postinst bogus --
    maint 1 prerm bogus --
    maint 1 postrm bogus --

    # An image build (chroot, no running systemd) and no video group: enable
    # only, start nothing.
    scenario image no no adduser
    maint 0 postinst configure "" -- "$addgroup" "$adduser" "systemctl enable $unit"
    state user group enabled inactive
    maint 0 postinst configure "$version" --
    maint 0 postinst configure "$version" --
    maint 0 prerm remove --
    dpkg_removes_files
    maint 0 postrm remove --
    state user group enabled config
    dpkg_purges_conffiles
    maint 0 postrm purge -- "deluser --system --quiet $u" "delgroup --system --quiet $u"
    state no-user no-group disabled no-config
    maint 0 postrm purge --

    # No adduser (it may be removed before efa-agent is purged): the passwd
    # package's commands do the same.
    scenario passwd-only yes yes passwd
    maint 0 postinst configure "" -- "groupadd --system $u" \
        "useradd --system --gid $u --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment efa-agent exporter $u" \
        "usermod -a -G video $u" "$reload" "systemctl enable --now $unit"
    state user group in-video enabled active
    maint 0 postinst configure "$version" -- "$reload" "systemctl restart $unit"
    maint 0 postinst configure "$version" -- "$reload" "systemctl restart $unit"
    maint 0 prerm remove -- "systemctl stop $unit"
    dpkg_removes_files
    maint 0 postrm remove -- "$reload"
    dpkg_purges_conffiles
    maint 0 postrm purge -- "userdel $u" "groupdel $u" "$reload" "systemctl reset-failed $unit"
    state no-user no-group not-in-video disabled no-config
    maint 0 postrm purge -- "$reload" "systemctl reset-failed $unit"
}

for step in "${steps[@]}"; do
    echo "== $step"
    before=$failures
    "step_$step"
    if [ "$failures" -eq "$before" ]; then
        echo "-- ok: $step"
    else
        echo "-- FAILED: $step ($((failures - before)) check(s))" >&2
    fi
    # Nothing else can be tested without the package.
    if [ "$step" = build ] && [ ! -f "$deb" ]; then
        break
    fi
done

echo
if [ "$failures" -gt 0 ]; then
    echo "FAIL: $failures check(s) failed" >&2
    exit 1
fi
echo "PASS: ${steps[*]}"
