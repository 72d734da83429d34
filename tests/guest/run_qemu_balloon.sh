#!/usr/bin/env bash
# Runs testguest.elf's virtio-balloon self-tests under QEMU microvm with virtio-balloon-device (modern
# virtio-mmio), the target set through QMP's `balloon` command and statistics read with qom-get.
# Usage: run_qemu_balloon.sh <testguest.elf>. Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_balloon.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-180}
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
virtio_begin

# qmp <json commands...>: sends them in order on the run's QMP socket, prints the replies.
qmp() {
  python3 - "$workdir/qmp.sock" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
def reply():
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m: return m
f.readline(); f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush(); reply()
for c in sys.argv[2:]:
    f.write(c + "\n"); f.flush(); print(json.dumps(reply()))
PY
}

# wait_line <log> <text> [count]: waits (bounded) until <text> has appeared <count> (1) times in the log.
wait_line() {
  local i
  for i in $(seq 1 $((boot_timeout * 10))); do
    [ "$(grep -ac -- "$2" "$1")" -ge "${3:-1}" ] && return 0
    sleep 0.1
  done
  return 1
}

# The target through QMP: the guest gives 48 of its 64 touched MiB, then takes them back; statistics flow.
log="$workdir/follow.log"
timeout "$boot_timeout" "$qemu" -accel kvm -M microvm,acpi=off -cpu qemu64,-cx16,-pni -nodefaults -no-user-config \
  -nographic -serial stdio -no-reboot -m 256 -global virtio-mmio.force-legacy=false \
  -device virtio-balloon-device,id=bal0,deflate-on-oom=on,free-page-reporting=on \
  -qmp "unix:$workdir/qmp.sock,server=on,wait=off" -kernel "$elf" \
  -append "console=ttyS0 testguest.run=balloon testguest.balloon_touch_mib=64 testguest.balloon_secs=40" \
  </dev/null >"$log" 2>"$workdir/follow.err" &
qpid=$!
if ! wait_line "$log" "balloon: actual=0 target=0"; then
  fail follow "the guest never reached its balloon loop"
else
  qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/bal0", "property": "guest-stats-polling-interval", "value": 1}}' \
    '{"execute": "balloon", "arguments": {"value": 218103808}}' >/dev/null
  wait_line "$log" "balloon: actual=12288 target=12288" || fail follow "inflating to 48 MiB did not finish"
  sleep 2
  stats=$(qmp '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/bal0", "property": "guest-stats"}}')
  echo "follow: guest-stats $stats"
  grep -q '"stat-total-memory": [1-9]' <<<"$stats" || fail follow "no statistics from the guest"
  qmp '{"execute": "balloon", "arguments": {"value": 268435456}}' >/dev/null
  wait_line "$log" "balloon: actual=0 target=0 zero_bad=0" 2 || fail follow "deflating did not finish"
fi
wait "$qpid"
rc=$?
last=$(grep -a '^TESTGUEST ' "$log" | tail -n 1 | tr -d '\r')
[ "$rc" -eq 0 ] && [ "$last" = "TESTGUEST PASS" ] || fail follow "qemu rc=$rc, last result line '$last'"
summary+=$(printf '  %-18s rc=%d' follow "$rc")$'\n'

if virtio_check report "balloon testguest.balloon_touch_mib=32 testguest.balloon_report_mib=16 testguest.balloon_secs=2" \
  -device virtio-balloon-device,free-page-reporting=on; then
  expect_line report "balloon: reported=16 MiB first_qword=0x0"
fi
if virtio_check hostile "balloon-hostile" -device virtio-balloon-device,free-page-reporting=on; then
  expect_line hostile "balloon-hostile: ok cases=4"
fi

qemu_finish "QEMU virtio-balloon runs:" "all QEMU virtio-balloon checks passed"
