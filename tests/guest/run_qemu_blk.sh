#!/usr/bin/env bash
# Runs testguest.elf's virtio-blk self-tests under QEMU microvm, whose virtio-mmio (version 2) devices are
# announced on the command line as virtio_mmio.device=..., like Hearth's. Checks the guest's output against
# the host's view of the image. Usage: run_qemu_blk.sh <testguest.elf>. Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_blk.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-120}
# virtio_begin, virtio_run, virtio_check, fail, expect_line, qemu_finish.
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found (needed to make and check images)"; exit 77; }
virtio_begin

# 641 sectors (320.5 KiB): with 128 KiB requests, three requests, the last partial (64 KiB + 512 B
# descriptors); small because guest instructions can be very slow under nested virtualisation.
sectors=641

# make_image <path> <seed>: byte i is (i*131 + (i>>9)*seed) & 0xff, so every sector differs.
make_image() {
  python3 - "$1" "$2" "$sectors" <<'PY'
import sys
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "wb") as f:
    f.write(bytes((i * 131 + (i >> 9) * seed) & 0xFF for i in range(n * 512)))
PY
}

# check_written <path> <written sectors> <seed of the original image>: blk-write's pattern, then the original.
check_written() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, written, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
for i, b in enumerate(data):
    s, j = divmod(i, 512)
    want = (s * 7 + j) & 0xFF if s < written else (i * 131 + s * seed) & 0xFF
    if b != want:
        print(f"byte {i} (sector {s}) is 0x{b:02x}, expected 0x{want:02x}")
        sys.exit(1)
PY
}

drive() { echo "id=d0,file=$1,format=raw,if=none${2:+,$2}"; }

img="$workdir/disk.img"

virtio_check sha256 "sha256" && expect_line sha256 "SHA256 ok"

make_image "$img" 17
want=$(sha256sum "$img" | cut -d' ' -f1)
if virtio_check blk-read "blk-read testguest.blk_req_kib=128" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0; then
  expect_line blk-read "BLK READ requests=3 bytes_per_request=131072"
  expect_line blk-read "BLK READ sectors=$sectors sha256=$want"
fi

# The whole drive in one 1 MiB-capable request per pass (11 descriptors), with FLUSH.
make_image "$img" 29
if virtio_check blk-write "blk-write" -drive "$(drive "$img")" -device virtio-blk-device,drive=d0; then
  expect_line blk-write "BLK WRITE flushed"
  expect_line blk-write "BLK WRITE sectors=$sectors ok"
  why=$(check_written "$img" "$sectors" 29) || fail blk-write "host image after blk-write: $why"
fi

make_image "$img" 29
if virtio_check blk-write-part "blk-write testguest.blk_sectors=100" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0; then
  expect_line blk-write-part "BLK WRITE sectors=100 ok"
  why=$(check_written "$img" 100 29) || fail blk-write-part "host image after blk-write: $why"
fi

make_image "$img" 17
if virtio_check blk-ro "blk-ro" -drive "$(drive "$img" readonly=on)" -device virtio-blk-device,drive=d0; then
  expect_line blk-ro "BLK RO ok"
  [ "$(sha256sum "$img" | cut -d' ' -f1)" = "$want" ] || fail blk-ro "read-only image changed"
fi
if virtio_run blk-ro-rw "blk-ro" -drive "$(drive "$img")" -device virtio-blk-device,drive=d0; then
  [ "$last" = "TESTGUEST FAIL blk-ro: drive does not advertise VIRTIO_BLK_F_RO" ] ||
    fail blk-ro-rw "last result line is '$last'"
fi

# Other virtio devices around the disk: discovery must walk every virtio_mmio.device= entry.
if virtio_check blk-id "blk-id" -device virtio-rng-device -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0,serial=hearth-blk-0 -device virtio-rng-device; then
  expect_line blk-id "BLK ID hearth-blk-0"
  [ "$(grep -ac 'virtio_mmio.device=' "$workdir/blk-id.log")" -eq 1 ] &&
    grep -aq 'virtio_mmio.device=.*virtio_mmio.device=.*virtio_mmio.device=' "$workdir/blk-id.log" ||
    fail blk-id "expected three virtio_mmio.device entries on the command line"
fi
# A 20-byte ID has no NUL terminator.
if virtio_check blk-id-20 "blk-id" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0,serial=ABCDEFGHIJKLMNOPQRSTUVWXYZ; then
  expect_line blk-id-20 "BLK ID ABCDEFGHIJKLMNOPQRST"
fi

if virtio_run no-disk "blk-read"; then
  [ "$last" = "TESTGUEST FAIL open: no virtio-blk device among 0 virtio_mmio.device entries" ] ||
    fail no-disk "last result line is '$last'"
fi

# QEMU answers these two with DEVICE_NEEDS_RESET, like Hearth: exercises the guest's reset-and-recover path.
# (The other hostile tests are for Hearth: QEMU accepts some of those requests.)
for t in loop huge-len; do
  if virtio_check "hostile-$t" "blk-hostile-$t" -drive "$(drive "$img")" -device virtio-blk-device,drive=d0; then
    expect_line "hostile-$t" "BLK HOSTILE $t needs_reset recovered"
    expect_line "hostile-$t" "BLK HOSTILE $t ok"
  fi
done

if virtio_check blk-bench "blk-bench testguest.bench_ops=2000" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0; then
  line=$(tr -d '\r' <"$workdir/blk-bench.log" | grep -a '^BLK BENCH seq_bytes=')
  [[ "$line" =~ ^"BLK BENCH seq_bytes=$((sectors * 512)) seq_us="[0-9]+" seq_mb_s="[0-9]+\.[0-9]" rand_ops=2000 rand_us="[0-9]+" rand_iops="[0-9]+$ ]] ||
    fail blk-bench "bad bench line: '$line'"
  echo "$line"
fi

qemu_finish "QEMU virtio-blk runs (start of qemu to its exit):" "all QEMU virtio-blk checks passed"
