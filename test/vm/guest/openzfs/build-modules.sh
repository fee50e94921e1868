#!/usr/bin/env bash
# Builds OpenZFS's kernel modules once, in a throwaway Debian chroot, for one kernel ABI and one zfs-dkms version.
#   build-modules.sh OUT.tar KVER ZFS_VERSION
# OUT.tar holds lib/modules/KVER/updates/dkms/*.ko and nothing else; the harness caches it under a hash of this
# script, KVER and ZFS_VERSION, so the ~10 min dkms compile is not repeated when the appliance's package list changes.
set -euo pipefail
out=$1 kver=$2 zfsver=$3
mirror=${UA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/ua-zfs-modules.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Only the headers (no kernel image, no initramfs): dkms needs /lib/modules/KVER/build and a compiler.
# The versions are pinned so the modules match the root the harness installs them into.
mmdebstrap --variant=minbase --format=null \
  --aptopt='Apt::Install-Recommends "false"' \
  --include="linux-headers-$kver,zfs-dkms=$zfsver" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
  --customize-hook="set -e
    root=\"\$1\"
    ver=\$(chroot \"\$root\" dpkg-query -W -f='\${Version}' zfs-dkms | sed 's/-[^-]*\$//')
    # zfs-dkms's postinst builds only for kernels it sees as installed; ask for ours explicitly (a no-op when built).
    ls \"\$root/lib/modules/$kver/updates/dkms/\"zfs.ko* >/dev/null 2>&1 || chroot \"\$root\" dkms install -m zfs -v \"\$ver\" -k $kver
    ls \"\$root/lib/modules/$kver/updates/dkms/\"zfs.ko* >/dev/null
    tar -C \"\$root\" -cf '$work/modules.tar' lib/modules/$kver/updates/dkms
    " \
  bookworm /dev/null "deb $mirror bookworm main contrib"
tar -tf "$work/modules.tar" | grep -q 'zfs\.ko' || { echo "build-modules.sh: no zfs.ko in the build" >&2; exit 1; }
mv "$work/modules.tar" "$out"
