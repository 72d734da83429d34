#!/usr/bin/env bash
# Runs testguest.elf's virtio-rng self-tests under QEMU microvm with virtio-rng-device behind modern
# (version 2) virtio-mmio, announced on the command line as virtio_mmio.device=..., like Hearth's.
# Usage: run_qemu_rng.sh <testguest.elf>. Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_rng.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-120}
# virtio_begin, virtio_run, virtio_check, fail, expect_line, qemu_finish.
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
virtio_begin

# line <name> <regex>: sets $got to the run's first line matching the (extended) regex; a failure if none.
line() {
  got=$(tr -d '\r' <"$workdir/$1.log" | grep -aE -m1 -- "$2") && return 0
  fail "$1" "no line matching: $2"
  return 1
}

# field <line> <key>: the value of key=value in the line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# Another virtio device in front of the rng: discovery must skip DeviceIDs that are not 4.
digests=()
if virtio_check rng "rng" -device virtio-balloon-device -device virtio-rng-device; then
  line rng '^rng: dev base=0x[0-9a-f]+ irq=[0-9]+ features=0x[0-9a-f]+ queue=[0-9]+$'
  line rng '^rng: requests=[0-9]+ short=[0-9]+$'
  line rng '^rng: bytes=4096 sha256=[0-9a-f]{64}$' && { echo "$got"; digests+=("$(field "$got" sha256)"); }
  line rng '^rng: ones=[0-9]+/32768 permille=[0-9]+ max_byte_count=[0-9]+ value=0x[0-9a-f]{2}$' && echo "$got"
  line rng '^rng: second bytes=4096 sha256=[0-9a-f]{64} differs$'
  expect_line rng "rng: ok"
fi

# QEMU's limiter (at most max-bytes per period ms) answers the 1000- and 2520-byte requests short.
if virtio_check rng-short "rng" -device virtio-rng-device,max-bytes=700,period=100; then
  if line rng-short '^rng: requests=[0-9]+ short=[0-9]+$'; then
    echo "rng-short: $got"
    [ "$(field "$got" short)" -gt 0 ] || fail rng-short "expected short answers under max-bytes=700"
  fi
  line rng-short '^rng: bytes=4096 sha256=[0-9a-f]{64}$' && digests+=("$(field "$got" sha256)")
  expect_line rng-short "rng: ok"
fi
if [ "${#digests[@]}" -eq 2 ] && [ "${digests[0]}" = "${digests[1]}" ]; then
  fail rng "two boots read the same 4096 bytes"
fi

rate_re='^rng-rate: bytes=2048 requests=[0-9]+ short=[0-9]+ ticks=[0-9]+ us=[0-9]+ bytes_per_s=[0-9]+ tsc_khz=[0-9]+ source=[a-z0-9-]+$'
fast_us=""
if virtio_check rng-rate "rng-rate" -device virtio-rng-device && line rng-rate "$rate_re"; then
  echo "$got"
  fast_us=$(field "$got" us)
fi
# 1 KiB/s: the first 1024 bytes at once, the rest a period later, so about a second in all.
if virtio_check rng-rate-limited "rng-rate" -device virtio-rng-device,max-bytes=1024,period=1000 &&
  line rng-rate-limited "$rate_re"; then
  echo "$got"
  us=$(field "$got" us)
  if [ "$(field "$got" source)" != guess ] && [ "$us" -lt 800000 ]; then
    fail rng-rate-limited "2048 bytes at 1 KiB/s took only $us us"
  fi
  if [ -n "$fast_us" ] && [ "$fast_us" -ge "$us" ]; then
    fail rng-rate-limited "the limited run ($us us) was not slower than the unlimited one ($fast_us us)"
  fi
fi

if virtio_run no-device "rng"; then
  [ "$last" = "TESTGUEST FAIL rng: no virtio-rng device among 0 virtio_mmio.device entries" ] ||
    fail no-device "last result line is '$last'"
fi

# QEMU 7.2 answers these two with DEVICE_NEEDS_RESET, as it should. The other rng-hostile cases are for
# Hearth: QEMU completes a buffer outside guest RAM with used.len 64 (apparently via a bounce buffer)
# and never completes a request with no writable bytes (readable, zero-len), so `rng-hostile` as a whole
# fails on QEMU.
for t in loop avail-jump; do
  if virtio_check "hostile-$t" "rng-hostile-$t" -device virtio-rng-device; then
    line "hostile-$t" "^rng-hostile: $t (needs_reset status=0x[0-9a-f]+|used_len=0)\$" && echo "$got"
    expect_line "hostile-$t" "rng-hostile: $t recovered"
    expect_line "hostile-$t" "rng-hostile: ok cases=1"
  fi
done

qemu_finish "QEMU virtio-rng runs (start of qemu to its exit):" "all QEMU virtio-rng checks passed"
