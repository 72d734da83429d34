#!/usr/bin/env bash
# Runs testguest.elf's `cpuid` self-test under QEMU microvm (the reference for what Hearth's CPU template
# test greps): the line format, a feature QEMU hides, and the ARCH_CAPABILITIES rule.
# Usage: run_qemu_cpuid.sh <testguest.elf>. Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_cpuid.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-60}
# qemu_skip_checks, qemu_begin, qemu_boot, qemu_exited_ok, fail, expect_line, qemu_finish
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
qemu_skip_checks
qemu_begin

# run <name> <-cpu model>: PASS expected; the CPUID lines in $workdir/<name>.log.
run() {
  local name=$1 cpu=$2
  qemu_boot "$name" -M microvm,acpi=on,pit=on,pic=on,rtc=off -cpu "$cpu" -nodefaults -no-user-config \
    -nographic -serial stdio -no-reboot -smp 1 -m 128 -kernel "$elf" -append "console=ttyS0 testguest.run=cpuid"
  summary+=$(printf '  %-8s %-36s %5d ms  rc=%d' "$name" "$cpu" "$elapsed_ms" "$qemu_rc")$'\n'
  qemu_exited_ok "$name" || return 1
  [ "$last" = "TESTGUEST PASS" ] || { fail "$name" "last result line is '$last'"; return 1; }
}

# reg <name> <leaf.sub> <reg>: the register's value from the run's CPUID line (decimal), empty if absent.
reg() {
  local v
  v=$(tr -d '\r' <"$workdir/$1.log" | sed -n "s/^CPUID $2 .*$3=\([0-9a-f]\{8\}\).*/\1/p" | head -n 1)
  [ -n "$v" ] && echo $((16#$v))
}

line_re='^CPUID [0-9a-f]{8}\.[0-9a-f]{2} eax=[0-9a-f]{8} ebx=[0-9a-f]{8} ecx=[0-9a-f]{8} edx=[0-9a-f]{8}$'
# QEMU 7.2 aborts on some nested hosts writing the host's ARCH_CAPABILITIES value, so it is off in both runs;
# the guest must then report the MSR absent (CPUID.7.0:EDX[29] clear) rather than fault reading it.
if run host host,-arch-capabilities; then
  n=$(tr -d '\r' <"$workdir/host.log" | grep -cE "$line_re")
  [ "$n" -ge 8 ] || fail host "expected at least 8 CPUID lines, got $n"
  for l in 00000000.00 00000001.00 00000007.00 80000001.00 80000008.00; do
    [ -n "$(reg host $l eax)" ] || fail host "no CPUID $l line"
  done
  ecx1=$(reg host 00000001.00 ecx)
  [ -n "$ecx1" ] && [ $((ecx1 >> 31 & 1)) -eq 1 ] || fail host "CPUID.1:ECX[31] (hypervisor) is clear"
  edx7=$(reg host 00000007.00 edx)
  if [ -n "$edx7" ] && [ $((edx7 >> 29 & 1)) -eq 1 ]; then
    tr -d '\r' <"$workdir/host.log" | grep -qE '^MSR 0000010a=[0-9a-f]{16}$' || fail host "no MSR 0000010a value line"
  else
    expect_line host "MSR 0000010a absent"
  fi
fi

# A feature QEMU hides must read clear in the guest: LAHF/SAHF is CPUID.80000001:ECX[0] (a leaf every KVM
# seen here applies from KVM_SET_CPUID2; PVM keeps the hardware's bits of leaf 7 and leaf 1 ECX).
if run masked host,-arch-capabilities,-lahf-lm; then
  ecx=$(reg masked 80000001.00 ecx)
  [ -n "$ecx" ] && [ $((ecx & 1)) -eq 0 ] || fail masked "CPUID.80000001:ECX[0] (LAHF/SAHF) is set under -lahf-lm"
  host_ecx=$(reg host 80000001.00 ecx)
  [ -z "$host_ecx" ] || [ $((host_ecx & 1)) -eq 1 ] || echo "note: the host has no LAHF/SAHF; the masked run proves little"
fi

qemu_finish "QEMU cpuid runs (start of qemu to its exit):" "all QEMU cpuid checks passed"
