#!/usr/bin/env bash
# Runs testguest.elf's `counter` self-test (the guest of the snapshot tests and benchmarks) under QEMU microvm:
# with a virtio-blk drive holding blk-write's pattern, without a drive, with one corrupted sector, and across a
# QEMU migration to a file and back (stop, migrate to "exec:cat > file", a new QEMU with -incoming, cont), where
# the ticks must continue where they stopped. With testguest.dirty_pages (the dirtying area): every tick line says
# dirty=ok and the done line counts the whole-area checks; bad options fail at once; a live migration between two
# QEMUs over a Unix socket while the guest dirties pages continues with every page verified; and a page corrupted
# in a migration stream fails the restored guest, naming the page, word and the values.
# Usage: run_qemu_counter.sh <testguest.elf> [basic|dirty|all] (default all: the checks without, with dirtying).
# Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_counter.sh <testguest.elf> [basic|dirty|all]}
part=${2:-all}
case $part in basic | dirty | all) ;; *) echo "usage: run_qemu_counter.sh <testguest.elf> [basic|dirty|all]"; exit 1 ;; esac
# want_part <basic|dirty>: whether this run does that group of checks.
want_part() { [ "$part" = all ] || [ "$part" = "$1" ]; }
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

# expect_dirty_ticks <name> <n> <blk> <full checks>: as expect_ticks, each tick line ending in " dirty=ok" and the
# done line counting the whole-area checks.
expect_dirty_ticks() {
  local want got
  want=$(for ((i = 1; i <= $2; i++)); do echo "counter: tick=$i pattern=ok blk=$3 dirty=ok"; done
    echo "counter: done ticks=$2 dirty=ok full_checks=$4")
  got=$(tr -d '\r' <"$workdir/$1.log" | grep -a '^counter: \(tick\|done\)')
  [ "$got" = "$want" ] || fail "$1" "tick lines are not 1..$2 with blk=$3 dirty=ok, then done with full_checks=$4"
}

# expect_re <name> <extended regex>: some line of the run's output matches.
expect_re() {
  tr -d '\r' <"$workdir/$1.log" | grep -qE -- "$2" || fail "$1" "no line matches: $2"
}

drive() { echo "id=d0,file=$1,format=raw,if=none"; }
img="$workdir/disk.img"

if want_part basic; then
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
fi

# Migration to a file and back. The output of both QEMUs together must hold ticks 1..40 exactly once (a line
# may be split between them), the second one must not boot again and must end in PASS.
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
if want_part basic; then
  make_image "$img"
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
fi

dirty="testguest.dirty_pages=16 testguest.dirty_area_pages=64"
# Dirtying: 16 of 64 pages per tick, so the writes wrap every 4 ticks: 10 whole-area checks plus the final one.
if want_part dirty; then
  make_image "$img"
  if virtio_check counter-dirty "counter testguest.ticks=40 testguest.tick_ms=1 $dirty" -drive "$(drive "$img")" \
    -device virtio-blk-device,drive=d0; then
    expect_re counter-dirty \
      "^counter: start pattern_bytes=65536 drive=yes dirty_pages=16 dirty_area_pages=64 dirty_base=0x[0-9a-f]+\$"
    expect_dirty_ticks counter-dirty 40 ok 11
    why=$(check_image "$img") || fail counter-dirty "host image after counter: $why"
  fi
  # Without a drive, the default area (256 pages) and one page per tick: no wrap in 5 ticks, only the final check.
  if virtio_check counter-dirty-nodrive "counter testguest.ticks=5 testguest.tick_ms=1 testguest.dirty_pages=1"; then
    expect_re counter-dirty-nodrive \
      "^counter: start pattern_bytes=65536 drive=no dirty_pages=1 dirty_area_pages=256 dirty_base=0x[0-9a-f]+\$"
    expect_dirty_ticks counter-dirty-nodrive 5 none 1
  fi
  # Bad options end the test before the first tick. 16384 pages (64 MiB and their bookkeeping) do not fit in 64 MiB.
  bad_dirty() {
    local name=$1 args=$2 want=$3
    shift 3
    if virtio_run "$name" "counter testguest.ticks=1 $args" "$@"; then
      [ "$last" = "TESTGUEST FAIL $want" ] || fail "$name" "last result line is '$last', not 'TESTGUEST FAIL $want'"
    fi
  }
  bad_dirty counter-dirty-big "testguest.dirty_pages=1 testguest.dirty_area_pages=16385" \
    "counter: testguest.dirty_area_pages must be 1..16384"
  bad_dirty counter-dirty-n "testguest.dirty_pages=65 testguest.dirty_area_pages=64" \
    "counter: testguest.dirty_pages must be <= testguest.dirty_area_pages"
  bad_dirty counter-dirty-nan "testguest.dirty_pages=x" "counter: testguest.dirty_pages is not a decimal number"
  bad_dirty counter-dirty-ram "testguest.dirty_pages=1 testguest.dirty_area_pages=16384" \
    "counter: no free RAM for 16384 dirty pages" -m 64
fi

# Live migration while dirtying, then a corrupted page. `mig_dirty live`: a destination QEMU (-incoming unix:...)
# and a source; QMP migrate at tick 5 while the guest runs; the source must stop (postmigrate) and the destination
# go on; prints query-migrate's figures. `mig_dirty corrupt`: stop at tick 5, migrate to a file, flip the low byte
# of word 100 of every dirtying page found in the stream (each one once, as the guest last wrote it), restore from
# it: the guest must fail naming a page, word 100, and got = expected ^ 0xff with expected = f(tick, page).
mig_dirty() {
  python3 - "$qemu" "$workdir" "$boot_timeout" "$@" <<'PY'
import json, os, re, socket, subprocess, sys, time
qemu, workdir, timeout, mode, args = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5:]

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
    sock = os.path.join(workdir, f"dqmp{n}")
    out = open(os.path.join(workdir, f"counter-{mode}{n}.log"), "wb")
    p = subprocess.Popen([qemu, "-accel", "kvm"] + args + ["-qmp", f"unix:{sock},server=on,wait=off"] + extra,
                         stdin=subprocess.DEVNULL, stdout=out,
                         stderr=open(os.path.join(workdir, f"counter-{mode}{n}.err"), "wb"))
    return p, qmp(sock)

def wait_tick(n, p, tick):
    log = os.path.join(workdir, f"counter-{mode}{n}.log")
    deadline = time.monotonic() + timeout
    while not re.search(rb"counter: tick=%d " % tick, open(log, "rb").read()):
        if time.monotonic() > deadline or p.poll() is not None:
            sys.exit(f"QEMU {n} did not reach tick {tick}")
        time.sleep(0.01)

def wait_migrated(q):
    while (st := q("query-migrate")).get("status") not in ("completed", "failed", "cancelled"):
        time.sleep(0.01)
    if st["status"] != "completed":
        sys.exit(f"migrate ended {st['status']}: {st.get('error-desc', '')}")
    return st

def finish(p):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("the destination QEMU did not finish")

# The guest's f(t, p) (dirty_value in tests/counter.c).
M64 = (1 << 64) - 1
def dirty_value(t, p):
    x = ((t << 20) ^ p ^ 0x9E3779B97F4A7C15) & M64
    x = (x * 0xFF51AFD7ED558CCD) & M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & M64
    return x ^ (x >> 29)

if mode == "live":
    sock = os.path.join(workdir, "mig.sock")
    p2, q2 = start(2, ["-incoming", f"unix:{sock}"])
    p1, q1 = start(1, [])
    wait_tick(1, p1, 5)
    q1("migrate", uri=f"unix:{sock}")
    st = wait_migrated(q1)
    if q1("query-status")["status"] != "postmigrate":
        sys.exit("the source did not stop after the migration")
    p1.kill()
    p1.wait()
    finish(p2)
    ram = st.get("ram", {})
    print(f"total_ms={st.get('total-time')} downtime_ms={st.get('downtime')} ram_bytes={ram.get('transferred')} "
          f"dirty_syncs={ram.get('dirty-sync-count')}")
else:
    state = os.path.join(workdir, "dstate")
    p1, q1 = start(1, [])
    wait_tick(1, p1, 5)
    q1("stop")
    q1("migrate", uri=f"exec:cat > {state}")
    wait_migrated(q1)
    p1.kill()
    p1.wait()
    out = open(os.path.join(workdir, f"counter-{mode}1.log"), "rb").read()
    pages, ticks = 64, max(int(t) for t in re.findall(rb"counter: tick=(\d+) ", out))
    data = bytearray(open(state, "rb").read())
    found = 0
    for p in range(pages):
        for t in [0] + list(range(max(1, ticks - 8), ticks + 3)):
            at = data.find(dirty_value(t, p).to_bytes(8, "little") * 512)
            if at >= 0:
                data[at + 800] ^= 0xFF
                found += 1
                break
    if found != pages:
        sys.exit(f"found {found} of {pages} dirtying pages in the migration stream")
    open(state, "wb").write(data)
    p2, q2 = start(2, ["-incoming", f"exec:cat {state}"])
    while q2("query-status")["status"] == "inmigrate":
        time.sleep(0.01)
    q2("cont")
    finish(p2)
    out2 = open(os.path.join(workdir, f"counter-{mode}2.log"), "rb").read().decode(errors="replace")
    m = re.search(r"TESTGUEST FAIL counter: dirty page (\d+) word (\d+) is 0x([0-9a-f]+), expected 0x([0-9a-f]+) "
                  r"\(tick (\d+)\) at tick (\d+)", out2)
    if not m:
        sys.exit("the restored guest did not report a bad dirty page")
    page, word, got, want, last = int(m[1]), int(m[2]), int(m[3], 16), int(m[4], 16), int(m[5])
    if word != 100 or want != dirty_value(last, page) or got != want ^ 0xFF:
        sys.exit(f"wrong report: {m[0]}")
    print(m[0])
PY
}
if want_part dirty; then
  make_image "$img"
  mig_args=(-M microvm,acpi=off -cpu qemu64,-cx16,-pni -nodefaults -no-user-config -nographic -serial stdio -no-reboot
    -m 256 -global virtio-mmio.force-legacy=false -drive "$(drive "$img")" -device virtio-blk-device,drive=d0
    -kernel "$elf")
  summary+="  counter-live (QEMU live migration over a Unix socket while dirtying)"$'\n'
  if why=$(mig_dirty live "${mig_args[@]}" \
    -append "console=ttyS0 testguest.run=counter testguest.ticks=100 testguest.tick_ms=1 $dirty" 2>&1); then
    summary+="    $why"$'\n'
    cat "$workdir/counter-live1.log" "$workdir/counter-live2.log" >"$workdir/counter-live.log"
    : >"$workdir/counter-live.err"
    expect_dirty_ticks counter-live 100 ok 26
    grep -aq '^TESTGUEST START' "$workdir/counter-live2.log" && fail counter-live "the destination booted again"
    [ "$(grep -a '^TESTGUEST ' "$workdir/counter-live2.log" | tr -d '\r')" = "TESTGUEST PASS" ] ||
      fail counter-live "the destination did not end in PASS"
    grep -aq '^counter: tick=5 ' "$workdir/counter-live1.log" || fail counter-live "tick 5 was not on the source"
    grep -aq '^counter: tick=100 ' "$workdir/counter-live2.log" || fail counter-live "tick 100 was not on the destination"
  else
    cat "$workdir"/counter-live[12].log >"$workdir/counter-live.log" 2>/dev/null
    cat "$workdir"/counter-live[12].err >"$workdir/counter-live.err" 2>/dev/null
    fail counter-live "migration: $why"
  fi
  make_image "$img"
  summary+="  counter-corrupt (a dirtying page corrupted in a migration stream)"$'\n'
  if why=$(mig_dirty corrupt "${mig_args[@]}" \
    -append "console=ttyS0 testguest.run=counter testguest.tick_ms=1 $dirty" 2>&1); then
    summary+="    $why"$'\n'
  else
    cat "$workdir"/counter-corrupt[12].log >"$workdir/counter-corrupt.log" 2>/dev/null
    cat "$workdir"/counter-corrupt[12].err >"$workdir/counter-corrupt.err" 2>/dev/null
    fail counter-corrupt "$why"
  fi
fi

qemu_finish "QEMU counter runs (start of qemu to its exit):" "all QEMU counter checks passed"
