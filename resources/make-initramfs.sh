#!/usr/bin/env bash
# Build outdir/initramfs.cpio.gz (or initramfs-modules.cpio.gz with --modules): static busybox plus
# resources/init.sh as /init.
# Usage: resources/make-initramfs.sh [--modules] [outdir]   (default outdir: resources/out next to this script)
#   --modules  also pack the virtio (mmio, blk, net, vsock, balloon, rng) modules of the kernel that
#              fetch-debian-kernel.sh unpacked into outdir/linux-deb; /init insmods them.
# Needs: busybox-static (/bin/busybox), cpio, gzip; runs as root (mknod) so no fakeroot is involved.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly BUSYBOX=/bin/busybox
readonly APPLETS=(sh mount umount echo cat ls poweroff reboot uname insmod sleep dmesg)
# Dependency order (from each module's "depends=" modinfo).
readonly MODULES=(
    drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko
    drivers/block/virtio_blk.ko
    net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
    net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko
    net/vmw_vsock/vmw_vsock_virtio_transport.ko
    drivers/virtio/virtio_balloon.ko drivers/char/hw_random/virtio-rng.ko
)

die() { echo "make-initramfs: error: $*" >&2; exit 1; }
log() { echo "make-initramfs: $*"; }

with_modules=0
outdir=$script_dir/out
for arg in "$@"; do
    case $arg in
        --modules) with_modules=1 ;;
        -*) die "unknown option '$arg' (usage: make-initramfs.sh [--modules] [outdir])" ;;
        *) outdir=$arg ;;
    esac
done

(( EUID == 0 )) || die "must run as root (creates /dev/console with mknod)"
for tool in cpio gzip; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install $tool)"
done
[[ -x $BUSYBOX ]] || die "$BUSYBOX missing (apt-get install busybox-static)"
# A dynamic busybox would need its libc inside the initramfs.
if command -v readelf >/dev/null && readelf -l "$BUSYBOX" | grep -q 'program interpreter'; then
    die "$BUSYBOX is dynamically linked (install busybox-static, not busybox)"
fi

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
out=$outdir/initramfs.cpio.gz
(( with_modules )) && out=$outdir/initramfs-modules.cpio.gz

stage=$(mktemp -d "$outdir/.initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$BUSYBOX" "$stage/bin/busybox"
for applet in "${APPLETS[@]}"; do
    ln -s busybox "$stage/bin/$applet"
done
# The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3
install -m 755 "$script_dir/init.sh" "$stage/init"

if (( with_modules )); then
    release=$(cat "$outdir/kernel-release" 2>/dev/null) ||
        die "no $outdir/kernel-release: run resources/fetch-debian-kernel.sh $outdir first"
    moddir=$outdir/linux-deb/lib/modules/$release/kernel
    for mod in "${MODULES[@]}"; do
        [[ -f $moddir/$mod ]] || die "module $mod not found under $moddir"
        cp "$moddir/$mod" "$stage/lib/modules/"
        basename "$mod" >>"$stage/lib/modules/load.list"
    done
    log "packed ${#MODULES[@]} modules for $release"
fi

# Fixed mtimes and sorted names keep the archive reproducible, so reruns are byte-identical.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 -n >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out ($(stat -c %s "$out") bytes; modules: $( ((with_modules)) && echo yes || echo no))"
