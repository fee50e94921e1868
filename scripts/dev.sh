#!/usr/bin/env bash
# One entry point for a fresh machine: installs what the project needs, then runs the demo, the tests or the benchmarks.
#   scripts/dev.sh demo | test | bench | e2e | package | setup
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: test/fleet/nginx-cache.test.ts runs its own (private prefix and port) in front of the fleet server; its service is never used.
APT_PACKAGES=(zfs-fuse xz-utils e2fsprogs rsync attr openssl grub-common grub2-common grub-pc-bin shellcheck busybox-static procps util-linux mount systemd dash python3 make g++ postgresql nginx)
# Building the .deb files (dpkg-deb, strip) and checking them.
PACKAGE_APT_PACKAGES=(dpkg binutils lintian)
# The real-boot suite also builds a Debian guest and boots it, and installs the package into Debian chroots.
E2E_APT_PACKAGES=(qemu-system-x86 mmdebstrap fdisk "${PACKAGE_APT_PACKAGES[@]}")

need_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

need_npm() {
  # Reinstall when the lock file changed since the last install (or there is no install at all).
  local stamp=node_modules/.ua-lock-sha
  local want; want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # `npm install` from the lock file rather than `npm ci`: npm 11 drops other platforms' optional packages
    # (rollup's) from the lock and then refuses `npm ci` as out of sync.
    echo "setup: npm install (from package-lock.json)" >&2
    npm install --no-audit --no-fund >&2
    echo "$want" > "$stamp"
  fi
}

need_zfs_fuse() {
  if ! pgrep -x zfs-fuse >/dev/null; then
    echo "setup: starting zfs-fuse" >&2
    # A pid file or socket left by a zfs-fuse that died makes the new one exit at once.
    rm -f /run/zfs-fuse.pid /var/run/zfs/zfs_socket
    # Its dead FUSE mounts would make the pools it re-imports from zpool.cache impossible to destroy (deepest first).
    awk '$3 == "fuse.zfs" { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
    zfs-fuse -p /run/zfs-fuse.pid
    for _ in $(seq 1 50); do zpool list >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "setup: zfs-fuse did not come up (is /dev/fuse there?)" >&2
    return 1
  fi
}

setup() { need_apt; need_npm; need_zfs_fuse; }

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; npm run --silent demo -- "$@" ;;
  test)
    setup
    mkdir -p .cache
    rc=0
    npm test -- --reporter=default --reporter=json --outputFile=.cache/vitest-report.json "$@" || rc=$?
    node scripts/test-summary.mjs .cache/vitest-report.json || rc=1
    exit "$rc"
    ;;
  e2e)
    APT_PACKAGES+=("${E2E_APT_PACKAGES[@]}")
    setup
    mkdir -p .cache
    rc=0
    npm run e2e -- --reporter=default --reporter=json --outputFile=.cache/vitest-e2e-report.json "$@" || rc=$?
    node scripts/test-summary.mjs .cache/vitest-e2e-report.json || rc=1
    exit "$rc"
    ;;
  bench) setup; npm run --silent bench -- "$@" ;;
  package)
    APT_PACKAGES+=("${PACKAGE_APT_PACKAGES[@]}")
    need_apt; need_npm
    npm run --silent package -- "$@"
    lintian --fail-on error,warning .cache/package/*.deb
    ;;
  *) echo "usage: scripts/dev.sh demo|test|e2e|bench|package|setup" >&2; exit 64 ;;
esac
