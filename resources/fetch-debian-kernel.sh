#!/usr/bin/env bash
# Fetch Debian's cloud kernel and produce outdir/bzImage and outdir/vmlinux (uncompressed ELF).
# Usage: resources/fetch-debian-kernel.sh [outdir]   (default: resources/out next to this script)
# Needs: apt-get, dpkg-deb, lz4, od. Idempotent: does nothing when both outputs are already valid.
set -euo pipefail

readonly META_PKG=linux-image-cloud-amd64
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-$script_dir/out}

die() { echo "fetch-debian-kernel: error: $*" >&2; exit 1; }
log() { echo "fetch-debian-kernel: $*"; }

declare -A package_of=([apt-get]=apt [apt-cache]=apt [dpkg-deb]=dpkg [lz4]=lz4 [od]=coreutils)
for tool in "${!package_of[@]}"; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install ${package_of[$tool]})"
done

# Reads a little-endian unsigned integer of $3 bytes at byte offset $2 of file $1.
read_le() { od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' '; }

is_elf64() { [[ -f $1 ]] && [[ $(od -An -c -N5 "$1" | tr -d ' ') == '177ELF002' ]]; }

# The real banner ends "#<build number> SMP ..."; an earlier copy in the image is a format string.
linux_banner() {
    LC_ALL=C grep -aoE 'Linux version [0-9][[:print:]]* #[0-9]+ [[:print:]]*' "$1" | head -n1
}

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

if [[ -s $outdir/bzImage ]] && is_elf64 "$outdir/vmlinux"; then
    log "already present, skipping: $outdir/bzImage, $outdir/vmlinux"
    log "$(linux_banner "$outdir/vmlinux")"
    exit 0
fi

# The metapackage only depends on the versioned image package; resolve that name.
real_pkg=$(apt-cache depends --no-recommends --no-suggests "$META_PKG" 2>/dev/null |
           awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }')
[[ -n $real_pkg ]] || die "cannot resolve '$META_PKG' to a linux-image-*-cloud-amd64 package (run 'apt-get update'?)"

work=$(mktemp -d "$outdir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "downloading $real_pkg (via $META_PKG)"
# apt-get download writes to the current directory; '_apt' cannot write there, hence the sandbox warning.
(cd "$work" && { apt-get download -q "$real_pkg" 2>&1 | grep -v 'unsandboxed as root'; } || true)
debs=("$work/$real_pkg"_*.deb)
deb=${debs[0]}
[[ -f $deb ]] || die "apt-get download $real_pkg produced no .deb"

dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x failed on $(basename "$deb")"
kernels=("$work"/root/boot/vmlinuz-*)
vmlinuz=${kernels[0]}
[[ -f $vmlinuz ]] || die "no /boot/vmlinuz-* in $(basename "$deb")"
kver=${vmlinuz##*/vmlinuz-}

# Boot protocol header (Documentation/arch/x86/boot.rst): "HdrS" at 0x202, version at 0x206,
# setup_sects at 0x1f1, payload_offset/length at 0x248/0x24c (relative to the protected-mode code).
[[ $(od -An -c -j 0x202 -N4 "$vmlinuz" | tr -d ' ') == HdrS ]] || die "$vmlinuz is not a bzImage (no HdrS)"
setup_sects=$(read_le "$vmlinuz" $((0x1f1)) 1)
(( setup_sects == 0 )) && setup_sects=4
payload_off=$(( (setup_sects + 1) * 512 + $(read_le "$vmlinuz" $((0x248)) 4) ))
payload_len=$(read_le "$vmlinuz" $((0x24c)) 4)

readonly LZ4_LEGACY_MAGIC='02214c18'
magic_at() { od -An -tx1 -j "$1" -N4 "$vmlinuz" | tr -d ' \n'; }
if [[ $(magic_at "$payload_off") != "$LZ4_LEGACY_MAGIC" ]]; then
    # Header disagrees (old protocol?): fall back to scanning for the first LZ4 legacy magic.
    payload_off=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | head -n1 | cut -d: -f1) || true
    [[ -n $payload_off ]] || die "no LZ4 legacy frame (02 21 4c 18) in $vmlinuz; is the kernel still LZ4-compressed?"
    payload_len=$(( $(stat -c %s "$vmlinuz") - payload_off ))
fi
log "LZ4 payload at offset $payload_off, $payload_len bytes"

# The kernel build appends the uncompressed size (le32) after the LZ4 stream; lz4 reads it as a bogus
# block header and exits non-zero after writing everything, so judge by the output, not the exit code.
tail -c +$((payload_off + 1)) "$vmlinuz" | head -c "$payload_len" | lz4 -dc >"$work/vmlinux" 2>"$work/lz4.err" || true
is_elf64 "$work/vmlinux" || die "LZ4 output is not an ELF64 file: $(tail -n1 "$work/lz4.err")"
expected=$(read_le "$vmlinuz" $((payload_off + payload_len - 4)) 4)
actual=$(stat -c %s "$work/vmlinux")
[[ $actual == "$expected" ]] || die "vmlinux is $actual bytes, the image says $expected (truncated?)"

banner=$(linux_banner "$work/vmlinux")
[[ -n $banner ]] || die "no 'Linux version' string in the decompressed kernel"

# Keep config and modules: the cloud kernel builds virtio_mmio/virtio_blk/... as modules.
cp "$vmlinuz" "$outdir/bzImage"
mv "$work/vmlinux" "$outdir/vmlinux"
rm -rf "$outdir/linux-deb"
mv "$work/root" "$outdir/linux-deb"
echo "$kver" >"$outdir/kernel-release"

log "wrote $outdir/bzImage ($(stat -c %s "$outdir/bzImage") bytes)"
log "wrote $outdir/vmlinux ($actual bytes, ELF64)"
log "modules and config in $outdir/linux-deb/lib/modules/$kver"
log "$banner"
