#!/usr/bin/env bash
# Build the efa-agent Debian package.
#
# Usage: deploy/systemd/build-deb.sh VERSION OUTDIR [PUBLISH_DIR]
#
#   VERSION      Debian version, e.g. 0.1.0 or 0.2.0~rc1
#   OUTDIR       where efa-agent_<VERSION>_amd64.deb is written
#   PUBLISH_DIR  a directory holding an already published `efa-agent`
#                executable; without it the script runs
#                `dotnet publish src/Agent/Agent.csproj` (NativeAOT,
#                linux-x64) into a temporary directory.
#
# Environment: DEB_MAINTAINER overrides the Maintainer field.
set -euo pipefail

usage() {
    echo "usage: $0 VERSION OUTDIR [PUBLISH_DIR]" >&2
    exit 2
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    usage
fi
version="$1"
outdir="$2"
publish_dir="${3:-}"

if ! [[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
    echo "build-deb.sh: '$version' is not a Debian version (e.g. 0.1.0, 0.2.0~rc1)" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
package=efa-agent
arch=amd64
maintainer="${DEB_MAINTAINER:-efa-agent maintainers <efa-agent@example.invalid>}"

# Reproducible timestamps inside the archive.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)"
fi
export SOURCE_DATE_EPOCH

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -z "$publish_dir" ]; then
    publish_dir="$work/publish"
    echo "== dotnet publish -> $publish_dir"
    # NativeAOT: one 15 MB executable that needs no .NET on the node, starts in
    # about 0.1 s and runs in about 26 MB RSS (a self-contained single file is
    # 101 MB, starts in 0.3 s and takes 78 MB; see README "Publishing").
    # InformationalVersion carries the package version into the binary
    # (efa_agent_build_info{version}).
    # --artifacts-path keeps bin/ and obj/ in the scratch directory: the
    # linux-x64 restore leaves the checkout's obj/ (shared with the Debug
    # build that `dotnet test` runs this from) untouched.
    dotnet publish "$repo/src/Agent/Agent.csproj" -c Release -r linux-x64 \
        --artifacts-path "$work/artifacts" \
        -p:PublishAot=true \
        -p:InformationalVersion="$version" \
        -o "$publish_dir"
fi

binary="$publish_dir/efa-agent"
if [ ! -f "$binary" ]; then
    echo "build-deb.sh: $binary not found (expected the published executable)" >&2
    exit 1
fi

root="$work/root"
echo "== staging $root"
install -d -m 0755 "$root/DEBIAN" \
    "$root/usr/bin" \
    "$root/lib/systemd/system" \
    "$root/etc/efa-agent" \
    "$root/etc/default" \
    "$root/usr/share/doc/$package/examples"

install -m 0755 "$binary" "$root/usr/bin/efa-agent"
install -m 0644 "$here/efa-agent.service" "$root/lib/systemd/system/efa-agent.service"
install -m 0644 "$here/config.json" "$root/etc/efa-agent/config.json"
install -m 0644 "$here/efa-agent.default" "$root/etc/default/efa-agent"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/$package/copyright"
# A commented web config (TLS, basic auth) to copy to /etc/efa-agent/ when wanted.
install -m 0644 "$here/web-config.yml" "$root/usr/share/doc/$package/examples/web-config.yml"
if [ -f "$repo/deploy/README.md" ]; then
    install -m 0644 "$repo/deploy/README.md" "$root/usr/share/doc/$package/README.md"
fi

# Debian wants a changelog even in a native package; one entry per build.
{
    printf '%s (%s) unstable; urgency=medium\n\n' "$package" "$version"
    printf '  * Package efa-agent %s.\n\n' "$version"
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$root/usr/share/doc/$package/changelog.gz"
chmod 0644 "$root/usr/share/doc/$package/changelog.gz"

# The maintainer scripts call systemctl directly (no debhelper here), the
# agent documents itself through --help and README.md rather than a man page,
# and NativeAOT links .NET's own compression library (zlib-ng, used by the HTTP
# client of efa-agent doctor and top) into the executable: it cannot use libz.
install -d -m 0755 "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/$package" <<'EOF'
efa-agent: embedded-library zlib [usr/bin/efa-agent]
efa-agent: maintainer-script-calls-systemctl
efa-agent: no-manual-page
EOF
chmod 0644 "$root/usr/share/lintian/overrides/$package"

for script in postinst prerm postrm; do
    install -m 0755 "$here/debian/$script" "$root/DEBIAN/$script"
done

cat >"$root/DEBIAN/conffiles" <<'EOF'
/etc/efa-agent/config.json
/etc/default/efa-agent
EOF
chmod 0644 "$root/DEBIAN/conffiles"

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"

# Depends: what the NativeAOT executable links against (readelf -d: libc and
# libm only; newest symbol version GLIBC_2.34, so Ubuntu 22.04 or later). ICU
# is not needed: the agent is built with InvariantGlobalization. The
# maintainer scripts create the system user with adduser.
cat >"$root/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: libc6 (>= 2.34), adduser
Recommends: systemd
Section: admin
Priority: optional
Description: Prometheus exporter for AWS EFA, network and NVIDIA GPU metrics
 efa-agent samples the EFA hardware counters (which /proc/net/dev never
 shows), the /proc/net/dev interface counters and NVIDIA GPU state (NVML)
 several times a second, and serves them on :19400/metrics for Prometheus.
 It is meant for GPU training nodes (p4d, p5, p5en, trn1) running NCCL over
 EFA: it shows per-device EFA throughput with sub-scrape peaks, whether a job
 fell back to TCP sockets, GPU utilisation, Xid errors and throttling.
 .
 The service runs as the unprivileged user efa-agent in a systemd sandbox.
EOF
chmod 0644 "$root/DEBIAN/control"

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
    xargs -0 md5sum | sed 's| \./| |') >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$outdir/${package}_${version}_${arch}.deb"
echo "== dpkg-deb --build -> $deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
