#!/usr/bin/env bash
# Runs testguest.elf's `counter` self-test (the guest of the snapshot tests and benchmarks) under QEMU microvm:
# with a virtio-blk drive holding blk-write's pattern, without a drive, with one corrupted sector, and across a
# QEMU migration to a file and back (stop, migrate to "exec:cat > file", a new QEMU with -incoming, cont), where
# the ticks must continue where they stopped. Usage: run_qemu_counter.sh <testguest.elf>.
# Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_counter.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-120}
# virtio_begin, virtio_run, virtio_check, fail, expect_line, qemu_finish.
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found (needed to make and check images)"; exit 77; }
virtio_begin

sectors=64

# make_image <path> [<corrupt byte offset>]: byte j of sector s = (s*7 + j) & 0xff, one byte off by one if asked.
make_image() {
  python3 - "$1" "$sectors" "${2:--1}" <<'PY'
import sys
path, n, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytearray(((i >> 9) * 7 + (i & 511)) & 0xFF for i in range(n * 512))
if bad >= 0:
    data[bad] = (data[bad] + 1) & 0xFF
open(path, "wb").write(data)
PY
}

# check_image <path>: sector 1 is the marker, every other sector still holds the pattern.
check_image() {
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
marker = b"HEARTH COUNTER WRITE".ljust(512, b"#")
if data[512:1024] != marker:
    print(f"sector 1 is {data[512:560]!r}..., not the marker")
    sys.exit(1)
for i, b in enumerate(data):
    s, j = divmod(i, 512)
    if s != 1 and b != (s * 7 + j) & 0xFF:
        print(f"byte {i} (sector {s}) is 0x{b:02x}")
        sys.exit(1)
PY
}

# expect_ticks <name> <n> <blk>: tick lines 1..n, in order, each "pattern=ok blk=<blk>", then the done line.
expect_ticks() {
  local want got
  want=$(for ((i = 1; i <= $2; i++)); do echo "counter: tick=$i pattern=ok blk=$3"; done; echo "counter: done ticks=$2")
  got=$(tr -d '\r' <"$workdir/$1.log" | grep -a '^counter: \(tick\|done\)')
  [ "$got" = "$want" ] || fail "$1" "tick lines are not 1..$2 with blk=$3, then done"
}

drive() { echo "id=d0,file=$1,format=raw,if=none"; }
img="$workdir/disk.img"

make_image "$img"
if virtio_check counter "counter testguest.ticks=20 testguest.tick_ms=1" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0; then
  expect_line counter "counter: start pattern_bytes=65536 drive=yes"
  expect_ticks counter 20 ok
  why=$(check_image "$img") || fail counter "host image after counter: $why"
fi

if virtio_check counter-nodrive "counter testguest.ticks=3 testguest.tick_ms=10"; then
  expect_line counter-nodrive "counter: start pattern_bytes=65536 drive=no"
  expect_ticks counter-nodrive 3 none
fi

# Sector 5 (byte 17) is wrong: read into slot 3 at tick 3, found at tick 4.
make_image "$img" $((5 * 512 + 17))
if virtio_run counter-bad "counter testguest.ticks=20 testguest.tick_ms=1" -drive "$(drive "$img")" \
  -device virtio-blk-device,drive=d0; then
  want="TESTGUEST FAIL counter: blk slot 3 (sector 5, read at tick 3) byte 17 is 0x35, expected 0x34 at tick 4"
  [ "$last" = "$want" ] || fail counter-bad "last result line is '$last'"
fi

# Migration to a file and back. The output of both QEMUs together must hold ticks 1..40 exactly once (a line
# may be split between them), the second one must not boot again and must end in PASS.
make_image "$img"
migrate() {
  python3 - "$qemu" "$workdir" "$boot_timeout" "$@" <<'PY'
import json, os, re, socket, subprocess, sys, time
qemu, workdir, timeout, args = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]

def qmp(path):
    deadline = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    f = s.makefile("rwb")
    f.readline()
    def cmd(name, **arguments):
        f.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise RuntimeError(f"{name}: {m['error']}")
    cmd("qmp_capabilities")
    return cmd

def start(n, extra):
    sock = os.path.join(workdir, f"qmp{n}")
    out = open(os.path.join(workdir, f"counter-mig{n}.log"), "wb")
    p = subprocess.Popen([qemu, "-accel", "kvm"] + args + ["-qmp", f"unix:{sock},server=on,wait=off"] + extra,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=open(os.path.join(workdir, f"counter-mig{n}.err"), "wb"))
    return p, qmp(sock)

state = os.path.join(workdir, "state")
p1, q1 = start(1, [])
deadline = time.monotonic() + timeout
log1 = os.path.join(workdir, "counter-mig1.log")
while not re.search(rb"counter: tick=5 ", open(log1, "rb").read()):
    if time.monotonic() > deadline or p1.poll() is not None:
        sys.exit("first QEMU did not reach tick 5")
    time.sleep(0.01)
q1("stop")
q1("migrate", uri=f"exec:cat > {state}")
while (st := q1("query-migrate").get("status")) not in ("completed", "failed", "cancelled"):
    time.sleep(0.01)
p1.kill()
p1.wait()
if st != "completed":
    sys.exit(f"migrate ended {st}")
p2, q2 = start(2, ["-incoming", f"exec:cat {state}"])
while q2("query-status")["status"] == "inmigrate":
    time.sleep(0.01)
q2("cont")
try:
    p2.wait(timeout=timeout)
except subprocess.TimeoutExpired:
    p2.kill()
    sys.exit("second QEMU did not finish")
PY
}
summary+="  counter-mig (QEMU migration to a file and back)"$'\n'
if why=$(migrate -M microvm,acpi=off -cpu qemu64,-cx16,-pni -nodefaults -no-user-config -nographic -serial stdio \
  -no-reboot -m 256 -global virtio-mmio.force-legacy=false -drive "$(drive "$img")" -device virtio-blk-device,drive=d0 \
  -kernel "$elf" -append "console=ttyS0 testguest.run=counter testguest.ticks=40 testguest.tick_ms=20" 2>&1); then
  cat "$workdir/counter-mig1.log" "$workdir/counter-mig2.log" >"$workdir/counter-mig.log"
  : >"$workdir/counter-mig.err"
  expect_ticks counter-mig 40 ok
  grep -aq '^TESTGUEST START' "$workdir/counter-mig2.log" && fail counter-mig "the restored QEMU booted again"
  [ "$(grep -a '^TESTGUEST ' "$workdir/counter-mig2.log" | tr -d '\r')" = "TESTGUEST PASS" ] ||
    fail counter-mig "the restored QEMU did not end in PASS"
  if ! grep -aq '^counter: tick=5 ' "$workdir/counter-mig1.log" || ! grep -aq '^counter: tick=40 ' "$workdir/counter-mig2.log"; then
    fail counter-mig "expected tick 5 before and tick 40 after the migration"
  fi
else
  cat "$workdir"/counter-mig[12].log >"$workdir/counter-mig.log" 2>/dev/null
  cat "$workdir"/counter-mig[12].err >"$workdir/counter-mig.err" 2>/dev/null
  fail counter-mig "migration: $why"
fi

qemu_finish "QEMU counter runs (start of qemu to its exit):" "all QEMU counter checks passed"
