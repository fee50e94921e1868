#!/bin/sh
# In the OpenZFS guest: the two ways to read a zvol snapshot as a block device, timed (snapdev=visible vs a clone).
# Each copy starts from a freshly imported pool (cold ARC); times in ms, reported as E2E lines on /dev/ttyS1.
set -eu
mark() { printf 'E2E %s %s\n' "$1" "$2" > /dev/ttyS1; }
ms() { date +%s%3N; }
wait_dev() { until [ -b "$2" ]; do sleep 0.01; done; echo $(( $(ms) - $1 )); }
cold() { zpool export ozmodes; zpool import -d "$d" ozmodes; }
d=/var/tmp/ua-zvol-modes
mkdir -p "$d"
truncate -s 512M "$d/vdev"
zpool create -f -m none ozmodes "$d/vdev"
zfs create -V 256M ozmodes/vol
wait_dev "$(ms)" /dev/zvol/ozmodes/vol > /dev/null
# 64 MiB of data in a 256 MiB volume: the rest reads as zeros and must stay holes in the copy.
dd if=/dev/urandom of=/dev/zvol/ozmodes/vol bs=1M count=64 conv=fsync status=none
zfs snapshot ozmodes/vol@1
sum=$(head -c 268435456 /dev/zvol/ozmodes/vol | sha256sum | cut -c1-16)

cold
t=$(ms); zfs set snapdev=visible ozmodes/vol; dev=$(wait_dev "$t" /dev/zvol/ozmodes/vol@1)
t=$(ms); cp --sparse=always /dev/zvol/ozmodes/vol@1 "$d/snapdev.img"; sync "$d/snapdev.img"; copy=$(( $(ms) - t ))
t=$(ms); zfs set snapdev=hidden ozmodes/vol; until [ ! -e /dev/zvol/ozmodes/vol@1 ]; do sleep 0.01; done; gone=$(( $(ms) - t ))
mark zvol-snapdev "device_ms=$dev copy_ms=$copy hide_ms=$gone same=$([ "$(sha256sum < "$d/snapdev.img" | cut -c1-16)" = "$sum" ] && echo yes || echo no) alloc_kib=$(du -k "$d/snapdev.img" | cut -f1)"
rm -f "$d/snapdev.img"

cold
t=$(ms); zfs clone -o readonly=on ozmodes/vol@1 ozmodes/vol.export-1; dev=$(wait_dev "$t" /dev/zvol/ozmodes/vol.export-1)
t=$(ms); cp --sparse=always /dev/zvol/ozmodes/vol.export-1 "$d/clone.img"; sync "$d/clone.img"; copy=$(( $(ms) - t ))
t=$(ms); tries=0; until zfs destroy ozmodes/vol.export-1 2>/dev/null; do tries=$((tries + 1)); [ "$tries" -lt 100 ] || break; sleep 0.1; done; gone=$(( $(ms) - t ))
mark zvol-clone "device_ms=$dev copy_ms=$copy destroy_ms=$gone destroy_retries=$tries same=$([ "$(sha256sum < "$d/clone.img" | cut -c1-16)" = "$sum" ] && echo yes || echo no) alloc_kib=$(du -k "$d/clone.img" | cut -f1)"
rm -f "$d/clone.img"
zpool destroy ozmodes
rm -rf "$d"
