# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared with the sourcing script
# Shared by run_qemu.sh, run_qemu_blk.sh and run_qemu_rng.sh, which source it: skip checks, QEMU runs under a
# timeout, virtio-mmio boots, failure reports and the closing summary. The sourcing script sets $elf (the guest)
# and $boot_timeout (seconds per run), and may set $hide_log_re (log lines that fail() leaves out).
# Exit statuses: 0 all passed, 1 a check failed, 77 cannot run here.

qemu=${QEMU:-qemu-system-x86_64}

# qemu_skip_checks: exits 77 when QEMU or a read-writable /dev/kvm is missing.
qemu_skip_checks() {
  command -v "$qemu" >/dev/null 2>&1 || { echo "SKIP: $qemu not found"; exit 77; }
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm missing or not accessible"; exit 77; }
}

# qemu_begin: fails when $elf is missing; makes $workdir (removed at exit), zeroes $failures and $summary.
qemu_begin() {
  [ -f "$elf" ] || { echo "FAIL: $elf does not exist"; exit 1; }
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
  failures=0
  summary=""
}

# virtio_begin: the start of the virtio-mmio runners: qemu_skip_checks, qemu_begin, and fail() leaves the e820
# lines out.
virtio_begin() {
  qemu_skip_checks
  qemu_begin
  hide_log_re='^e820: '
}

# qemu_boot <name> <qemu args...>: runs `$qemu -accel kvm <args>` under $boot_timeout with stdin from
# /dev/null, stdout in $workdir/<name>.log and stderr in $workdir/<name>.err. Sets $qemu_rc, $elapsed_ms
# (start of qemu to its exit) and $last (the last TESTGUEST line of the output).
qemu_boot() {
  local name=$1 log="$workdir/$1.log" start end
  shift
  start=$(date +%s%N)
  timeout "$boot_timeout" "$qemu" -accel kvm "$@" </dev/null >"$log" 2>"$workdir/$name.err"
  qemu_rc=$?
  end=$(date +%s%N)
  elapsed_ms=$(( (end - start) / 1000000 ))
  last=$(grep -a '^TESTGUEST ' "$log" | tail -n 1 | tr -d '\r')
}

# qemu_exited_ok <name>: 0 when the last qemu_boot exited 0; otherwise records a failure and returns 1.
qemu_exited_ok() {
  if [ "$qemu_rc" -ne 0 ]; then
    fail "$1" "qemu exited with $qemu_rc (124: timed out after ${boot_timeout}s)"
    return 1
  fi
  return 0
}

# virtio_run <name> <cmdline extra> <qemu args...>: boots under `-M microvm,acpi=off` with modern (version 2)
# virtio-mmio devices from <qemu args> and testguest.run=<extra>; adds a summary row. Output in
# $workdir/<name>.log, last TESTGUEST line in $last; returns as qemu_exited_ok.
virtio_run() {
  local name=$1 extra=$2
  shift 2
  qemu_boot "$name" -M microvm,acpi=off -cpu qemu64,-cx16,-pni \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot -m 256 \
    -global virtio-mmio.force-legacy=false "$@" \
    -kernel "$elf" -append "console=ttyS0 testguest.run=$extra"
  summary+=$(printf '  %-18s %6d ms  rc=%d' "$name" "$elapsed_ms" "$qemu_rc")$'\n'
  qemu_exited_ok "$name"
}

# virtio_check <name> <cmdline extra> <qemu args...>: virtio_run, which must end in PASS.
virtio_check() {
  local name=$1
  virtio_run "$@" || return 1
  [ "$last" = "TESTGUEST PASS" ] || { fail "$name" "last result line is '$last'"; return 1; }
}

# fail <name> <message>: counts a failed check and shows the run's output and stderr (less warnings).
fail() {
  echo "FAIL [$1]: $2"
  echo "---- guest output ($1) ----"
  if [ -n "${hide_log_re:-}" ]; then
    grep -av -- "$hide_log_re" "$workdir/$1.log"
  else
    cat "$workdir/$1.log"
  fi
  grep -v 'warning:' "$workdir/$1.err" || true
  echo "----"
  failures=$((failures + 1))
}

# expect_line <name> <exact line>: the run's output must have this line.
expect_line() {
  tr -d '\r' <"$workdir/$1.log" | grep -qxF -- "$2" || fail "$1" "missing line: $2"
}

# qemu_finish <summary title> <success message>: prints the run summary and exits 1 if a check failed.
qemu_finish() {
  echo "$1"
  printf '%s' "$summary"
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "$2"
}
