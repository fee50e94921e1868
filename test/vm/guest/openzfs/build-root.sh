#!/usr/bin/env bash
# Builds the e2e appliance's Debian bookworm root with OpenZFS instead of zfs-fuse, as a tar: the same packages as
# ../packages.txt (zfs-fuse excepted: it conflicts with zfsutils-linux), zfsutils-linux without dkms, and the zfs
# modules that build-modules.sh compiled once (MODULES.tar), dropped into /lib/modules/KVER/updates/dkms.
#   build-root.sh OUT.tar MODULES.tar KVER ZFS_VERSION
set -euo pipefail
out=$1 modules=$2 kver=$3 zfsver=$4
here=$(cd "$(dirname "$0")" && pwd)
mirror=${UA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The kernel is pinned to the ABI the modules were built for (linux-image-amd64 could move on at a point release).
pkgs=$( (grep -v '^#' "$here/../packages.txt" | grep . | grep -vx 'zfs-fuse\|linux-image-amd64'
         echo "linux-image-$kver"; grep -v '^#' "$here/packages.txt" | grep . | sed "s/=ZFS_VERSION\$/=$zfsver/") | paste -sd, -)
modules=$(realpath "$modules")
# The zfs stack's own dependencies among the kernel's modules stay; so does everything ../build-root.sh keeps.
keep_modules='virtio_pci virtio_blk ext4 loop fuse zfs'
# ARC: OpenZFS takes half of RAM by default (444 MiB of the 1 GiB guest after a contract run, measured).
arc_max=$((128 << 20))

# No recommends: zfsutils-linux recommends zfs-dkms, which would compile the modules again inside this root.
mmdebstrap --variant=minbase --format=tar --include="$pkgs" \
  --aptopt='Apt::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
  --setup-hook='mkdir -p "$1/etc/initramfs-tools"; printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/initramfs.conf.ua"' \
  --customize-hook="set -e
    root=\"\$1\"
    [ -d \"\$root/lib/modules/$kver\" ] || { echo 'no kernel $kver in the root' >&2; exit 1; }
    tar -C \"\$root\" -xf '$modules'
    chroot \"\$root\" depmod $kver
    chroot \"\$root\" modinfo -k $kver -F vermagic zfs | grep -q '^$kver ' || { echo 'zfs.ko is not for $kver' >&2; exit 1; }
    printf 'options zfs zfs_arc_max=$arc_max\n' > \"\$root/etc/modprobe.d/zfs.conf\"
    # A fixed host id: pools this root imported stay importable without -f after a rebuild of the image.
    chroot \"\$root\" zgenhostid -f 0x75616532
    # The pool comes up at boot: by cache file once one exists, by a device scan before that.
    for u in zfs-load-module.service zfs-import-cache.service zfs-import-scan.service zfs-mount.service \
      zfs-volume-wait.service zfs-import.target zfs-volumes.target zfs.target; do
      [ -e \"\$root/lib/systemd/system/\$u\" ] || { echo \"no unit \$u in zfsutils-linux $zfsver\" >&2; exit 1; }
      chroot \"\$root\" systemctl enable \$u
    done
    # zfs-import-scan checks ConditionPathIsDirectory=/sys/module/zfs but is not ordered after zfs-load-module
    # (2.1.11): in the guest it never started at a first boot, most likely because the module was still loading.
    mkdir -p \"\$root/etc/systemd/system/zfs-import-scan.service.d\"
    printf '[Unit]\\nAfter=zfs-load-module.service\\n' > \"\$root/etc/systemd/system/zfs-import-scan.service.d/after-module.conf\"
    sed -i 's/^MODULES=.*/MODULES=list/' \"\$root/etc/initramfs-tools/initramfs.conf\"
    printf '%s\n' virtio_pci virtio_blk ext4 loop > \"\$root/etc/initramfs-tools/modules\"
    chroot \"\$root\" mkinitramfs -o /boot/initrd.img-$kver.nohook $kver
    chroot \"\$root\" update-initramfs -u -k $kver
    keep=\$(for m in $keep_modules; do chroot \"\$root\" modprobe -S $kver --show-depends \$m 2>/dev/null | awk '\$1==\"insmod\"{print \$2}'; done | sort -u)
    find \"\$root/lib/modules/$kver/kernel\" -name '*.ko*' | while read -r f; do
      case \" \$(echo \$keep) \" in *\" \${f#\$root} \"*) ;; *) rm -f \"\$f\" ;; esac
    done
    chroot \"\$root\" depmod $kver
    chroot \"\$root\" modprobe -S $kver --show-depends zfs >/dev/null
    rm -f \"\$root/usr/sbin/policy-rc.d\" \"\$root/etc/initramfs-tools/initramfs.conf.ua\"
    rm -rf \"\$root/var/cache/apt\"/*.bin \"\$root/var/lib/apt/lists\"/*_Packages
    " \
  bookworm "$out" "deb $mirror bookworm main contrib"
