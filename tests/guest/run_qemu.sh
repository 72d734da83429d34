#!/usr/bin/env bash
# Boots testguest.elf under QEMU microvm (PVH entry) in several shapes and checks what it reports.
# Usage: run_qemu.sh <testguest.elf>. Exit 0: all passed, 1: a check failed, 77: cannot run here.
set -u

elf=${1:?usage: run_qemu.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-30}
# qemu_skip_checks, qemu_begin, qemu_boot, qemu_exited_ok, fail, expect_line, qemu_finish.
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"

qemu_skip_checks
qemu_begin

# run <name> <smp> <mem MiB> <extra cmdline> -> output in $workdir/<name>.log, milliseconds in $elapsed_ms
run() {
  local name=$1 smp=$2 mem=$3 extra=$4
  cmdline="console=ttyS0 $extra"
  qemu_boot "$name" -M microvm,acpi=on,pit=on,pic=on,rtc=off -cpu qemu64,-cx16,-pni \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
    -smp "$smp" -m "${mem}M" -kernel "$elf" -append "$cmdline"
  summary+=$(printf '  %-14s smp=%s mem=%5sM  %5d ms  rc=%d' "$name" "$smp" "$mem" "$elapsed_ms" "$qemu_rc")$'\n'
  qemu_exited_ok "$name"
}

check_boot() {
  local name=$1 smp=$2 mem=$3 extra=$4
  run "$name" "$smp" "$mem" "$extra" || return
  [ "$last" = "TESTGUEST PASS" ] || { fail "$name" "last result line is '$last'"; return; }
  expect_line "$name" "TESTGUEST START boot=pvh"
  expect_line "$name" "cmdline: $cmdline"
  expect_line "$name" "cpus=$smp"
  grep -qa '^memtest: ok regions=[1-9]' "$workdir/$name.log" || fail "$name" "no 'memtest: ok' line"
  local mib
  mib=$(sed -n 's/^ram_total_mib=\([0-9]*\).*/\1/p' "$workdir/$name.log")
  # QEMU keeps the EBDA and BIOS area below 1 MiB for itself; allow a few MiB.
  if [ -z "$mib" ] || [ "$mib" -gt "$mem" ] || [ "$mib" -lt $((mem - 4)) ]; then
    fail "$name" "ram_total_mib='$mib', expected close to $mem"
  fi
}

for smp in 1 2 4; do
  for mem in 128 1024; do
    check_boot "smp${smp}-m${mem}" "$smp" "$mem" "testguest.run=boot"
  done
done

check_boot serial 2 128 "testguest.run=serial"
expect_line serial "serial: scratch divisor fifo loopback thre ok"

# hold_ms must really wait: the boot cannot be quicker than the hold.
check_boot hold 1 128 "testguest.hold_ms=500"
[ "$elapsed_ms" -ge 500 ] || fail hold "hold_ms=500 but QEMU ran only ${elapsed_ms} ms"

if run fail 1 128 "testguest.run=fail"; then
  [ "$last" = "TESTGUEST FAIL requested" ] || fail fail "last result line is '$last'"
  grep -qa '^TESTGUEST PASS' "$workdir/fail.log" && fail fail "PASS printed by a failing run"
fi

if run exception 1 128 "testguest.run=exception"; then
  [[ "$last" =~ ^"TESTGUEST FAIL exception 6 rip=0x"[0-9a-f]+$ ]] || fail exception "last result line is '$last'"
fi

if run unknown 1 128 "testguest.run=no-such-test"; then
  [ "$last" = "TESTGUEST FAIL unknown test 'no-such-test'" ] || fail unknown "last result line is '$last'"
fi

qemu_finish "QEMU boot times (start of qemu to its exit):" "all QEMU test-guest checks passed"
