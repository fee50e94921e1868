#!/usr/bin/env bash
# Builds the e2e appliance's Debian bookworm root as a tar: kernel, systemd, zfs-fuse; the agent comes later, from its package.
#   build-root.sh OUT.tar
# The tar is cached by the harness under a hash of this script and packages.txt.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^#' "$here/packages.txt" | grep . | paste -sd, -)

# Only the modules this appliance loads are kept: the generic kernel's other ~400 MB would make every image
# (and every Grub loopback read under TCG) slower for nothing.
keep_modules='virtio_pci virtio_blk ext4 loop fuse'

# --format: the harness writes to OUT.tar.partial, whose name would make mmdebstrap build a directory.
mmdebstrap --variant=minbase --format=tar --include="$pkgs" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
  --setup-hook='mkdir -p "$1/etc/initramfs-tools"; printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/initramfs.conf.ua"' \
  --customize-hook="set -e
    root=\"\$1\"
    kver=\$(ls \"\$root/lib/modules\")
    sed -i 's/^MODULES=.*/MODULES=list/' \"\$root/etc/initramfs-tools/initramfs.conf\"
    printf '%s\n' virtio_pci virtio_blk ext4 loop > \"\$root/etc/initramfs-tools/modules\"
    # A root built without our hooks: the initrd of the e2e 'broken image' (cannot boot an image file).
    chroot \"\$root\" mkinitramfs -o /boot/initrd.img-\$kver.nohook \$kver
    # The initrd with our hooks is made when the harness installs the package into the tree (its update-initramfs trigger).
    chroot \"\$root\" update-initramfs -u -k \$kver
    keep=\$(for m in $keep_modules; do chroot \"\$root\" modprobe -S \$kver --show-depends \$m 2>/dev/null | awk '\$1==\"insmod\"{print \$2}'; done | sort -u)
    find \"\$root/lib/modules/\$kver/kernel\" -name '*.ko*' | while read -r f; do
      case \" \$(echo \$keep) \" in *\" \${f#\$root} \"*) ;; *) rm -f \"\$f\" ;; esac
    done
    chroot \"\$root\" depmod \$kver
    rm -f \"\$root/usr/sbin/policy-rc.d\" \"\$root/etc/initramfs-tools/initramfs.conf.ua\"
    rm -rf \"\$root/var/cache/apt\"/*.bin \"\$root/var/lib/apt/lists\"/*_Packages
    " \
  bookworm "$out" http://deb.debian.org/debian
