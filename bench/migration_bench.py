#!/usr/bin/env python3
"""Live migration: Hearth (PUT /migration/send, hearth --migrate-from) vs QEMU microvm (migrate -d unix:...),
both between two local processes over a Unix socket, side by side.

The guest is the test guest's `counter` self-test (testguest.ticks=0, testguest.tick_ms=--tick-ms, no drive
unless --drive), which prints "counter: tick=<n> ..." every tick from a counter in guest memory. With
testguest.dirty_pages=N it also rewrites N pages of a testguest.dirty_area_pages area per tick and verifies every
page against its own bookkeeping (tests/guest/README.md), so the destination proves the memory arrived intact.
For each memory size (--mem-mib), workload (--workloads: idle = N 0, dN = N pages per tick) and run (--runs;
Hearth and QEMU interleaved, so host load hits both alike):

  1. the destination starts first and listens on <tmp>/mig.sock:
       Hearth: `hearth --api-sock <dst.sock> --migrate-from unix:<mig.sock>` when `hearth --help` lists
               --migrate-from, else a fresh `hearth --api-sock` and PUT /migration/receive {"url": ...} -> 204
       QEMU:   the same command line as the source plus `-incoming unix:<mig.sock>`
  2. the source boots the guest (Hearth --config-file + --api-sock; QEMU with QMP) and runs --baseline-ticks
     ticks (at least two rotations of the dirtying area), which give the normal tick period;
  3. the migration: Hearth PUT /migration/send {"url", "max_downtime_ms", "max_rounds", "bandwidth_mib_s",
     "auto_converge": true, "post_copy": false} (answered when the VM runs on the destination) while a second
     connection polls GET /migration; QEMU: migrate-set-capabilities auto-converge, migrate-set-parameters
     downtime-limit = --max-downtime-ms and max-bandwidth = --bandwidth-mib-s (0: unlimited, as for Hearth),
     then QMP migrate (detached, like HMP `migrate -d`) polled with query-migrate until completed;
  4. the destination must go on: its first tick is the source's last + 1 (+ 2 when a line was cut in two), it
     prints --after-ticks more (enough for a whole-area check) and nobody prints TESTGUEST FAIL; the Hearth source
     must exit 0.

Every stdout line of both processes is timestamped on arrival (monotonic clock). Figures per run:
  total          send/migrate -> 204 (Hearth) or query-migrate "completed" (QEMU), as seen by the bench
  VMM total / downtime   the VMM's own: GET /migration total_ms, downtime_ms; query-migrate total-time, downtime
  longest gap    the longest gap between two consecutive tick lines, source stdout then destination stdout,
                 from the start of the migration to the end of the run (includes the guest's own slow ticks)
  switch gap     last source tick line -> first destination tick line
  guest downtime switch gap minus what those ticks take normally (the median baseline gap of each tick in it,
                 ticks that check the whole area counted apart): what the guest lost to the move
  sent (MiB)     bytes_sent; QEMU ram transferred
  rounds         Hearth "round"; QEMU ram dirty-sync-count
Cells are "median [min..max]". Prints tables; --out writes a JSON report with every run. Python 3 stdlib only.
"""

import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib  # bench/benchlib.py: Python puts the script's own folder on sys.path

TICK = re.compile(rb"^counter: tick=(\d+) pattern=ok blk=\w+( dirty=ok)?\r?$", re.M)
FAIL = re.compile(rb"TESTGUEST (?:FAIL|START)[^\n]*")
SOURCE_DONE = re.compile(r"migration to \S+ completed: (\d+) bytes in ([\d.]+) ms, downtime ([\d.]+) ms")
POLL_S = 0.005
DONE_STATES = ("completed", "failed", "cancelled")


class BenchError(Exception):
    pass


def ms(t0, t1):
    return round((t1 - t0) * 1000.0, 2)


# --- processes and their serial output --------------------------------------------------------------

class Serial:
    """Reads a child's stdout on a thread; records when each complete `counter: tick=` line arrived."""

    def __init__(self, proc, name):
        self.proc, self.name = proc, name
        self.buf = bytearray()
        self.ticks = []  # (monotonic arrival time, tick number)
        self.eof = False
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fd = self.proc.stdout.fileno()
        scanned = 0
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            now = time.monotonic()
            with self.cv:
                if not chunk:
                    self.eof = True
                    self.cv.notify_all()
                    return
                self.buf += chunk
                end = self.buf.rfind(b"\n") + 1
                if end > scanned:
                    for m in TICK.finditer(self.buf, scanned, end):
                        self.ticks.append((now, int(m.group(1))))
                    scanned = end
                self.cv.notify_all()

    def failure(self, allow_start=True):
        """A TESTGUEST FAIL line (or, with allow_start False, a TESTGUEST START: a destination that boots)."""
        for m in FAIL.finditer(self.buf):
            if b"FAIL" in m.group(0) or not allow_start:
                return m.group(0).decode(errors="replace")
        return None

    def wait_ticks(self, count, timeout_s, allow_start=True):
        """Waits until `count` tick lines have arrived; returns the last (time, n)."""
        deadline = time.monotonic() + timeout_s
        with self.cv:
            while len(self.ticks) < count:
                why = self.failure(allow_start)
                if why:
                    raise BenchError(f"{self.name}: guest printed '{why}'")
                if self.eof:
                    raise BenchError(f"{self.name}: output ended after {len(self.ticks)} tick lines")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{self.name}: timed out after {len(self.ticks)} of {count} tick lines")
                self.cv.wait(left)
            return self.ticks[count - 1]

    def snapshot(self):
        with self.cv:
            return list(self.ticks)


def spawn(argv, stderr_path):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(stderr_path, "wb"),
                            start_new_session=True)


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def read_tail(path, n=1500):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


def connect_unix(path, timeout_s, proc=None):
    deadline = time.monotonic() + timeout_s
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if proc is not None and proc.poll() is not None:
                raise BenchError(f"process exited with {proc.returncode} before {path} accepted") from None
            if time.monotonic() > deadline:
                raise BenchError(f"{path} did not accept a connection within {timeout_s} s") from None
            time.sleep(0.001)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_path(path, timeout_s, proc):
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise BenchError(f"process exited with {proc.returncode} before {path} appeared")
        if time.monotonic() > deadline:
            raise BenchError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.001)


# --- the guest's timeline ---------------------------------------------------------------------------

def wrap_every(n_pages, area_pages):
    """Ticks between two whole-area checks (the tick that wraps the writes checks all), or 0 without dirtying."""
    return area_pages // n_pages if n_pages and area_pages % n_pages == 0 else 0


def baseline_periods(ticks, every):
    """Median gap before a normal tick and before a tick that checks the whole area (None if never seen)."""
    plain, full = [], []
    for (t0, n0), (t1, n1) in zip(ticks, ticks[1:]):
        if n1 != n0 + 1:
            continue
        (full if every and n1 % every == 0 else plain).append(t1 - t0)
    return (statistics.median(plain) if plain else None, statistics.median(full) if full else None)


def timeline(src_ticks, dst_ticks, t_migrate, periods, every):
    """The downtime figures from both tick timelines (see the module docstring); raises if the count broke."""
    if not src_ticks or not dst_ticks:
        raise BenchError("no tick lines on one side")
    last_src, first_dst = src_ticks[-1][1], dst_ticks[0][1]
    if first_dst not in (last_src + 1, last_src + 2):
        raise BenchError(f"destination's first tick is {first_dst}, the source's last {last_src}")
    # From the last source tick before the migration began.
    first = next((k for k, (t, _) in enumerate(src_ticks) if t >= t_migrate), len(src_ticks))
    joined = src_ticks[max(first - 1, 0):] + dst_ticks
    for (_, a), (_, b) in zip(joined, joined[1:]):
        if b != a + 1 and (a, b) != (last_src, first_dst):
            raise BenchError(f"tick {a} followed by {b}")
    gaps = [t1 - t0 for (t0, _), (t1, _) in zip(joined, joined[1:])]
    switch = dst_ticks[0][0] - src_ticks[-1][0]
    plain, full = periods
    expected = sum((full if every and n % every == 0 and full is not None else plain)
                   for n in range(last_src + 1, first_dst + 1))
    k = len(src_ticks) - max(first - 1, 0)  # where the destination's ticks start in `joined`
    around = [[round((t - t_migrate) * 1000, 1), n, "src" if j < k else "dst"]
              for j, (t, n) in enumerate(joined) if k - 4 <= j < k + 4]
    return {"longest_gap_ms": round(max(gaps) * 1000, 2) if gaps else None,
            "ticks_around_switch": around,  # [ms since the migration began, tick, side]
            "switch_gap_ms": round(switch * 1000, 2),
            "guest_downtime_ms": round((switch - expected) * 1000, 2),
            "tick_ms": round(plain * 1000, 2),
            "last_source_tick": last_src, "first_destination_tick": first_dst}


# --- Hearth's API ----------------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout_s, proc):
        super().__init__("localhost", timeout=timeout_s)
        self.path, self.proc = path, proc

    def connect(self):
        self.sock = connect_unix(self.path, self.timeout, self.proc)
        self.sock.settimeout(self.timeout)


class Api:
    def __init__(self, path, timeout_s, proc):
        self.conn = UnixHTTPConnection(path, timeout_s, proc)

    def call(self, method, path, body=None, want=204):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"} if data else {}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read()
        if r.status != want:
            raise BenchError(f"{method} {path} -> {r.status} {text[:300].decode(errors='replace')}")
        return text

    def get_json(self, path):
        return json.loads(self.call("GET", path, want=200))

    def close(self):
        self.conn.close()


def hearth_help(hearth):
    try:
        out = subprocess.run([hearth, "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return out.stdout + out.stderr


class Poller:
    """Polls GET /migration on its own connection until told to stop or the source goes away."""

    def __init__(self, sock, proc, timeout_s):
        self.sock, self.proc, self.timeout_s = sock, proc, timeout_s
        self.samples = []  # (time, GET /migration body)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        api = None
        while not self.done.is_set() and self.proc.poll() is None:
            try:
                if api is None:
                    api = Api(self.sock, self.timeout_s, self.proc)
                self.samples.append((time.monotonic(), api.get_json("/migration")))
                if self.samples[-1][1].get("state") in DONE_STATES:
                    break
            except (BenchError, OSError, http.client.HTTPException, ValueError):
                if api is not None:
                    api.close()
                api = None
            time.sleep(POLL_S)
        if api is not None:
            api.close()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)


def hearth_run(args, mem_mib, n_pages, tmp, i):
    d = tempfile.mkdtemp(prefix=f"hearth-{mem_mib}-{n_pages}-{i}-", dir=tmp)
    r = {"ok": False}
    timeout_s = args.timeout
    src = dst = poller = None
    src_err, dst_err = os.path.join(d, "source.err"), os.path.join(d, "destination.err")
    try:
        mig = os.path.join(d, "mig.sock")
        url = f"unix:{mig}" if args.transport == "unix" else f"tcp:127.0.0.1:{free_port()}"
        dsock = os.path.join(d, "dst.sock")
        if args.hearth_migrate_from and args.transport == "unix":  # over TCP, only a 204 says it listens
            dst = spawn([args.hearth, "--api-sock", dsock, "--migrate-from", url] + args.hearth_arg, dst_err)
            dst_serial = Serial(dst, "destination")
            wait_path(mig, timeout_s, dst)
        else:
            dst = spawn([args.hearth, "--api-sock", dsock] + args.hearth_arg, dst_err)
            dst_serial = Serial(dst, "destination")
            dapi = Api(dsock, timeout_s, dst)
            dapi.call("PUT", "/migration/receive", {"url": url})
            dapi.close()

        cfg = os.path.join(d, "vm.json")
        config = {"boot-source": {"kernel_image_path": os.path.abspath(args.guest),
                                  "boot_args": boot_args(args, n_pages)},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": mem_mib}}
        if args.track_dirty_pages:
            config["machine-config"]["track_dirty_pages"] = True
        if args.drive:
            config["drives"] = [{"drive_id": "data", "path_on_host": args.drive_path, "is_root_device": False,
                                 "is_read_only": False}]
        with open(cfg, "w") as f:
            json.dump(config, f)
        ssock = os.path.join(d, "src.sock")
        # --level Info: for the source's "migration ... completed" log line (the final figures, see below).
        src = spawn([args.hearth, "--api-sock", ssock, "--config-file", cfg, "--level", "Info"] + args.hearth_arg,
                    src_err)
        src_serial = Serial(src, "source")
        src_serial.wait_ticks(args.baseline_ticks, timeout_s)
        every = wrap_every(n_pages, args.dirty_area_pages)
        periods = baseline_periods(src_serial.snapshot(), every)

        body = {"url": url, "max_downtime_ms": args.max_downtime_ms, "max_rounds": args.max_rounds,
                "bandwidth_mib_s": args.bandwidth_mib_s, "auto_converge": True, "post_copy": args.post_copy}
        api = Api(ssock, timeout_s, src)
        poller = Poller(ssock, src, timeout_s)
        t0 = time.monotonic()
        api.call("PUT", "/migration/send", body)
        t1 = time.monotonic()
        api.close()
        r["total_ms"] = ms(t0, t1)
        try:
            r["source_rc"] = src.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BenchError("the source did not exit after the migration") from None
        poller.stop()
        if r["source_rc"] != 0:
            raise BenchError(f"the source exited with {r['source_rc']}")
        dst_serial.wait_ticks(args.after_ticks, timeout_s, allow_start=False)
        why = src_serial.failure()
        if why:
            raise BenchError(f"source: guest printed '{why}'")
        r.update(timeline(src_serial.snapshot(), dst_serial.snapshot(), t0, periods, every))

        samples = [s for _, s in poller.samples]
        last = samples[-1] if samples else {}
        try:  # the destination's view after the move (the source is gone)
            dapi = Api(dsock, timeout_s, dst)
            dview = dapi.get_json("/migration")
            dapi.close()
        except (BenchError, OSError, http.client.HTTPException, ValueError) as e:
            dview = {"error": f"GET /migration on the destination: {e}"}
        r["destination_view"] = dview
        if dview.get("pages_requested") is not None:  # post-copy: pages the destination pulled on demand
            r["pages_requested"] = dview["pages_requested"]
        r["destination_state"] = dview.get("state")
        r["source_last_view"] = last
        # The source answers PUT /migration/send and exits, so a poll rarely sees it "completed"; its log line
        # "migration to <url> completed: <n> bytes in <ms> ms, downtime <ms> ms" has the final figures.
        m = SOURCE_DONE.search(read_tail(src_err, 1 << 20))
        if m:
            r.update({"vmm_bytes_sent": int(m.group(1)), "vmm_total_ms": float(m.group(2)),
                      "vmm_downtime_ms": float(m.group(3)), "vmm_figures_from": "source log"})
        view = dview if dview.get("state") == "completed" else last
        for key in ("downtime_ms", "total_ms", "bytes_sent", "round"):
            if view.get(key) is not None and f"vmm_{key}" not in r:
                r[f"vmm_{key}"] = view[key]
        r.setdefault("vmm_figures_from", "destination GET /migration" if view is dview else "source GET /migration")
        if r.get("vmm_bytes_sent") is not None:
            r["sent_mib"] = round(r["vmm_bytes_sent"] / 2**20, 2)
        r["rounds"] = max((s.get("round") or 0 for s in samples + [dview]), default=None)
        r["max_throttle_percent"] = max((s.get("throttle_percent") or 0 for s in samples), default=None)
        r["states_seen"] = sorted({s.get("state") for s in samples if s.get("state")})
        r["ok"] = True
    except (BenchError, OSError, http.client.HTTPException, ValueError) as e:
        r["error"] = str(e)
        r["stderr_tail"] = "source: " + read_tail(src_err) + "\ndestination: " + read_tail(dst_err)
    finally:
        if poller is not None:
            poller.stop()
        stop(src)
        stop(dst)
        shutil.rmtree(d, ignore_errors=True)
    return r


# --- QEMU and QMP ----------------------------------------------------------------------------------

class Qmp:
    def __init__(self, path, timeout_s, proc):
        self.sock = connect_unix(path, timeout_s, proc)
        self.sock.settimeout(timeout_s)
        self.f = self.sock.makefile("rwb")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **arguments):
        self.f.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError(f"QMP closed during {name}")
            m = json.loads(line)
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise BenchError(f"QMP {name}: {m['error']}")

    def close(self):
        self.f.close()
        self.sock.close()


def qemu_argv(args, mem_mib, n_pages, qmp_path):
    argv = [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=off", "-cpu", "qemu64,-cx16,-pni",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", str(mem_mib),
            "-global", "virtio-mmio.force-legacy=false"]
    if args.drive:
        argv += ["-drive", f"id=d0,file={args.drive_path},format=raw,if=none", "-device", "virtio-blk-device,drive=d0"]
    return argv + ["-kernel", args.guest, "-append", boot_args(args, n_pages),
                   "-qmp", f"unix:{qmp_path},server=on,wait=off"]


def qemu_run(args, mem_mib, n_pages, tmp, i):
    d = tempfile.mkdtemp(prefix=f"qemu-{mem_mib}-{n_pages}-{i}-", dir=tmp)
    r = {"ok": False}
    timeout_s = args.timeout
    src = dst = None
    src_err, dst_err = os.path.join(d, "source.err"), os.path.join(d, "destination.err")
    try:
        mig = os.path.join(d, "mig.sock")
        url = f"unix:{mig}" if args.transport == "unix" else f"tcp:127.0.0.1:{free_port()}"
        q2 = os.path.join(d, "qmp-dst.sock")
        dst = spawn(qemu_argv(args, mem_mib, n_pages, q2) + ["-incoming", url], dst_err)
        dst_serial = Serial(dst, "destination")
        # QEMU opens the -incoming listener before its monitor, so an answering QMP means it listens.
        Qmp(q2, timeout_s, dst).close()
        q1 = os.path.join(d, "qmp-src.sock")
        src = spawn(qemu_argv(args, mem_mib, n_pages, q1), src_err)
        src_serial = Serial(src, "source")
        qmp = Qmp(q1, timeout_s, src)
        qmp.cmd("migrate-set-capabilities", capabilities=[{"capability": "auto-converge", "state": True}])
        qmp.cmd("migrate-set-parameters", **{"downtime-limit": args.max_downtime_ms,
                                             "max-bandwidth": args.bandwidth_mib_s << 20 if args.bandwidth_mib_s
                                             else args.qemu_max_bandwidth})
        src_serial.wait_ticks(args.baseline_ticks, timeout_s)
        every = wrap_every(n_pages, args.dirty_area_pages)
        periods = baseline_periods(src_serial.snapshot(), every)
        t0 = time.monotonic()
        qmp.cmd("migrate", uri=url)
        deadline = t0 + timeout_s
        statuses, throttle = [], 0
        while (st := qmp.cmd("query-migrate"))["status"] not in DONE_STATES:
            throttle = max(throttle, st.get("cpu-throttle-percentage", 0))
            if not statuses or statuses[-1] != st["status"]:
                statuses.append(st["status"])
            if time.monotonic() > deadline:
                raise BenchError(f"migration still {st['status']} after {timeout_s} s")
            time.sleep(POLL_S)
        t1 = time.monotonic()
        statuses.append(st["status"])
        r["total_ms"] = ms(t0, t1)
        r["query_migrate"] = st
        if st["status"] != "completed":
            raise BenchError(f"migration {st['status']}: {st.get('error-desc', '')}")
        status = qmp.cmd("query-status")["status"]
        if status != "postmigrate":
            raise BenchError(f"the source is {status} after the migration, not postmigrate")
        qmp.close()
        dst_serial.wait_ticks(args.after_ticks, timeout_s, allow_start=False)
        why = src_serial.failure()
        if why:
            raise BenchError(f"source: guest printed '{why}'")
        r.update(timeline(src_serial.snapshot(), dst_serial.snapshot(), t0, periods, every))
        ram = st.get("ram", {})
        r.update({"vmm_total_ms": st.get("total-time"), "vmm_downtime_ms": st.get("downtime"),
                  "vmm_setup_ms": st.get("setup-time"), "vmm_bytes_sent": ram.get("transferred"),
                  "rounds": ram.get("dirty-sync-count"), "zero_pages": ram.get("duplicate"),
                  "normal_pages": ram.get("normal"), "statuses_seen": statuses})
        if r["vmm_bytes_sent"] is not None:
            r["sent_mib"] = round(r["vmm_bytes_sent"] / 2**20, 2)
        r["max_throttle_percent"] = max(throttle, st.get("cpu-throttle-percentage", 0))
        r["ok"] = True
    except (BenchError, OSError, ValueError) as e:
        r["error"] = str(e)
        r["stderr_tail"] = "source: " + read_tail(src_err) + "\ndestination: " + read_tail(dst_err)
    finally:
        stop(src)
        stop(dst)
        shutil.rmtree(d, ignore_errors=True)
    return r


# --- report ----------------------------------------------------------------------------------------

METRICS = [
    ("total_ms", "total (ms)", 1),
    ("vmm_total_ms", "VMM total (ms)", 1),
    ("vmm_downtime_ms", "VMM downtime (ms)", 1),
    ("guest_downtime_ms", "guest downtime (ms)", 1),
    ("switch_gap_ms", "switch gap (ms)", 1),
    ("longest_gap_ms", "longest gap (ms)", 1),
    ("tick_ms", "tick period before (ms)", 1),
    ("sent_mib", "sent (MiB)", 2),
    ("rounds", "rounds", 0),
    ("max_throttle_percent", "throttle (%)", 0),
    ("pages_requested", "post-copy pages requested (destination)", 0),
]


def boot_args(args, n_pages):
    a = f"console=ttyS0 testguest.run=counter testguest.ticks=0 testguest.tick_ms={args.tick_ms}"
    if n_pages:
        a += f" testguest.dirty_pages={n_pages} testguest.dirty_area_pages={args.dirty_area_pages}"
    return a


def workload_pages(name):
    if name == "idle":
        return 0
    if re.fullmatch(r"d\d+", name) and int(name[1:]) > 0:
        return int(name[1:])
    raise ValueError(f"workload '{name}' is not idle or d<N>")


def make_drive(path):
    """blk-write's pattern, which `counter` checks in the sectors it reads (64 sectors)."""
    with open(path, "wb") as f:
        f.write(bytes(((i >> 9) * 7 + (i & 511)) & 0xFF for i in range(64 * 512)))


def main():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("--mem-mib", default="256,1024", help="guest memory sizes, comma-separated")
    p.add_argument("--workloads", default="idle,d16,d64",
                   help="comma-separated: idle (no dirtying) or d<N> (testguest.dirty_pages=N)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true",
                   help="one run of 256 MiB, idle and d64, fewer ticks: checks the script and both VMMs")
    p.add_argument("--tick-ms", type=int, default=1, help="testguest.tick_ms")
    p.add_argument("--dirty-area-pages", type=int, default=256, help="testguest.dirty_area_pages")
    p.add_argument("--baseline-ticks", type=int, default=0,
                   help="ticks before the migration (default: two rotations of the area, at least 10)")
    p.add_argument("--after-ticks", type=int, default=0,
                   help="ticks the destination must print (default: one rotation + 2, at least 5)")
    p.add_argument("--max-downtime-ms", type=int, default=50, help="Hearth max_downtime_ms, QEMU downtime-limit")
    p.add_argument("--max-rounds", type=int, default=30, help="Hearth max_rounds")
    p.add_argument("--bandwidth-mib-s", type=int, default=0,
                   help="link limit for both: Hearth bandwidth_mib_s, QEMU max-bandwidth (0: unlimited)")
    p.add_argument("--qemu-max-bandwidth", type=int, default=100 << 30,
                   help="QEMU max-bandwidth without --bandwidth-mib-s, bytes/s (default 100 GiB/s: unlimited)")
    p.add_argument("--post-copy", action="store_true",
                   help="Hearth only: send post_copy true (with --bandwidth-mib-s 1 --max-downtime-ms 1 unless "
                        "given, so pre-copy cannot converge and the switch to post-copy happens)")
    p.add_argument("--transport", choices=["unix", "tcp"], default="unix",
                   help="unix:<tmp>/mig.sock or tcp:127.0.0.1:<free port>")
    p.add_argument("--hearth-receive-api", action="store_true",
                   help="start the Hearth destination with PUT /migration/receive even when it has --migrate-from")
    p.add_argument("--hearth-arg", action="append", default=[],
                   help="one more argument for every hearth command line (repeat it; e.g. --hearth-arg=--no-seccomp)")
    p.add_argument("--track-dirty-pages", action="store_true",
                   help="boot the Hearth source with machine-config.track_dirty_pages")
    p.add_argument("--drive", action="store_true",
                   help="a virtio-blk drive on both sides (one shared image), which `counter` reads every tick")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for any one step")
    p.add_argument("--only", action="append", choices=["hearth", "qemu"])
    p.add_argument("--out", default="", help="also write a JSON report here")
    args = p.parse_args()
    benchlib.check_guest(p, args)
    if args.post_copy:
        if not args.only:
            args.only = ["hearth"]
        if not args.bandwidth_mib_s:
            args.bandwidth_mib_s = 1
        if args.max_downtime_ms == 50:
            args.max_downtime_ms = 1
    if args.quick:
        args.runs, args.mem_mib, args.workloads = 1, "256", "idle,d64"
    try:
        mems = [int(m) for m in args.mem_mib.split(",") if m]
        workloads = [(w, workload_pages(w)) for w in args.workloads.split(",") if w]
    except ValueError as e:
        p.error(str(e))
    for w, n in workloads:
        if n > args.dirty_area_pages:
            p.error(f"{w}: more pages per tick than --dirty-area-pages {args.dirty_area_pages}")
    sides = [s for s in ("hearth", "qemu") if not args.only or s in args.only]
    skipped = {}
    for side in list(sides):
        binary = args.hearth if side == "hearth" else args.qemu
        reason = benchlib.skip_reason(binary, needs_kvm=side == "hearth" or args.qemu_accel == "kvm")
        if side == "hearth" and not reason:
            help_text = hearth_help(args.hearth)
            if b"migrat" not in help_text:
                reason = "hearth --help mentions no migration (the migration API has not landed in this binary)"
            args.hearth_migrate_from = b"--migrate-from" in help_text and not args.hearth_receive_api
        if reason:
            print(f"skipping {side}: {reason}")
            skipped[side] = reason
            sides.remove(side)
    results = {m: {w: {s: [] for s in sides} for w, _ in workloads} for m in mems}
    with tempfile.TemporaryDirectory(prefix="hearth-migration-bench-") as tmp:
        args.drive_path = os.path.join(tmp, "disk.img")
        if args.drive:
            make_drive(args.drive_path)
        for mem in mems:
            for w, n in workloads:
                every = wrap_every(n, args.dirty_area_pages) or 1
                saved = args.baseline_ticks, args.after_ticks
                if not args.baseline_ticks:
                    args.baseline_ticks = max(10, 2 * every + 2) if not args.quick else max(6, every + 2)
                if not args.after_ticks:
                    args.after_ticks = max(5, every + 2)
                for i in range(args.runs):  # interleaved, so host load hits both sides alike
                    for side in sides:
                        r = (hearth_run if side == "hearth" else qemu_run)(args, mem, n, tmp, i)
                        results[mem][w][side].append(r)
                        if r["ok"]:
                            state = ", ".join(f"{k} {r.get(k)}" for k in
                                              ("total_ms", "vmm_downtime_ms", "guest_downtime_ms", "sent_mib",
                                               "rounds") + (("pages_requested", "destination_state", "states_seen")
                                                            if args.post_copy else ()))
                        else:
                            state = f"FAILED: {r['error']}"
                        print(f"  {mem} MiB {w} {side} run {i + 1}: {state}", flush=True)
                        if not r["ok"] and r.get("stderr_tail", "").strip():
                            print("    stderr: " + r["stderr_tail"].strip().replace("\n", "\n            "))
                args.baseline_ticks, args.after_ticks = saved
    print(f"\nguest: {boot_args(args, 0)}, dirty_area_pages={args.dirty_area_pages}, "
          f"{'a virtio-blk drive' if args.drive else 'no drive'}; {args.runs} runs per side, size and workload; "
          f"max downtime {args.max_downtime_ms} ms; over {args.transport}; "
          f"bandwidth {f'{args.bandwidth_mib_s} MiB/s' if args.bandwidth_mib_s else 'unlimited'}")
    for mem in mems:
        print(f"\n{mem} MiB")
        header = ["metric: median [min..max]"] + [f"{s} {w}" for w, _ in workloads for s in sides]
        rows = []
        for key, label, digits in METRICS:
            rows.append([label] + [benchlib.cell(benchlib.summarize_runs(results[mem][w][s], key), digits)
                                   for w, _ in workloads for s in sides])
        rows.append(["ok runs"] + [f"{sum(r['ok'] for r in results[mem][w][s])}/{len(results[mem][w][s])}"
                                   for w, _ in workloads for s in sides])
        benchlib.print_table(header, rows)
    if args.out:
        benchlib.write_report(args.out, {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
            "boot_args": boot_args(args, 0), "dirty_area_pages": args.dirty_area_pages, "drive": args.drive,
            "max_downtime_ms": args.max_downtime_ms, "transport": args.transport,
            "bandwidth_mib_s": args.bandwidth_mib_s, "skipped": skipped,
            "results": {str(m): v for m, v in results.items()}})
    ok = all(r["ok"] for v in results.values() for per in v.values() for runs in per.values() for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
