#!/usr/bin/env python3
"""Snapshots: Hearth (Firecracker's snapshot API) vs QEMU microvm (migration to a file), side by side.

The guest is the test guest's `counter` self-test (no drive, testguest.ticks=0, testguest.tick_ms=--tick-ms),
which prints "counter: tick=<n> ..." every tick from a counter kept in guest memory, so a restored VM shows
that it runs again, and that it goes on from where it stopped, with its next tick line. For each memory size
(--mem-mib) and run (--runs, Hearth and QEMU interleaved, so host load hits both alike):

Hearth, booted with --config-file (machine-config.track_dirty_pages on) and --api-sock:
  create Full   PATCH /vm Paused, then PUT /snapshot/create {"snapshot_type":"Full",...}: send -> 204
  create Diff   resumed for a few ticks, paused again, PUT /snapshot/create Diff: send -> 204
  restore File  a fresh `hearth --api-sock`; PUT /snapshot/load of the Full snapshot with
                mem_backend {"backend_type":"File"} and resume_vm: send -> the next tick line (load -> tick),
                and process start -> that line (start -> tick); also send -> 204 (load API)
  restore Uffd  the same with {"backend_type":"Uffd"} and hearth-uffd-handler serving the memory file (the
                handler is started, and listening, before the clock starts)
  restore CLI   `hearth --restore-from <state> --mem-file <mem>`, and with --mem-uffd-socket <handler's socket>
                (when --help lists --restore-from): process start -> the first tick line
QEMU (-M microvm, the same guest and memory size, QMP on a Unix socket):
  save          QMP stop, then migrate to "exec:cat > <file>": send -> query-migrate says completed
  restore       a new QEMU with -incoming "exec:cat <file>", then QMP cont once it is paused:
                cont -> the next tick line, process start -> that line, process start -> paused (loaded)

A restore counts only when its first tick is the one after the last tick seen before the snapshot (one more
when the snapshot caught a tick line half printed). Cells are "median / p90" in milliseconds. Prints a table;
writes a JSON report only with --out. Python 3 standard library only.
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
import subprocess
import sys
import tempfile
import threading
import time

import benchlib  # bench/benchlib.py: Python puts the script's own folder on sys.path

TICK = re.compile(rb"^counter: tick=(\d+) pattern=ok blk=\w+$", re.M)
FAIL = re.compile(rb"TESTGUEST FAIL[^\n]*")
POLL_S = 0.0005
TICKS_BEFORE_SNAPSHOT = 3


class BenchError(Exception):
    pass


def ms(t0, t1):
    return round((t1 - t0) * 1000.0, 2)


def p90(values):
    """Nearest-rank 90th percentile."""
    s = sorted(values)
    return s[max(0, -(-len(s) * 9 // 10) - 1)]


# --- processes and their serial output --------------------------------------------------------------

class Serial:
    """Reads a child's stdout on a thread; records when each complete `counter: tick=` line arrived."""

    def __init__(self, proc):
        self.proc = proc
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

    def failure(self):
        m = FAIL.search(self.buf)
        return m.group(0).decode(errors="replace") if m else None

    def wait_ticks(self, count, timeout_s):
        """Waits until `count` tick lines have arrived; returns the last (time, n)."""
        deadline = time.monotonic() + timeout_s
        with self.cv:
            while len(self.ticks) < count:
                why = self.failure()
                if why:
                    raise BenchError(f"guest failed: {why}")
                if self.eof:
                    raise BenchError(f"output ended after {len(self.ticks)} tick lines")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"timed out after {len(self.ticks)} of {count} tick lines")
                self.cv.wait(left)
            return self.ticks[count - 1]

    def tail(self):
        with self.cv:
            return bytes(self.buf[-1500:]).decode(errors="replace")


def spawn(argv, stderr_path, stdout=True):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                            stderr=open(stderr_path, "wb"), start_new_session=True)


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
            time.sleep(POLL_S)


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

    def close(self):
        self.conn.close()


def hearth_supports_cli_restore(hearth):
    try:
        out = subprocess.run([hearth, "--help"], capture_output=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--restore-from" in out


def check_continues(first_tick, last_before, what):
    if first_tick not in (last_before + 1, last_before + 2):
        raise BenchError(f"{what}: first tick after restore is {first_tick}, last before the snapshot {last_before}")


def start_uffd_handler(args, d, path, mem, timeout_s, tag):
    """hearth-uffd-handler <path> <mem>, once it says it is listening."""
    err = os.path.join(d, f"uffd-{tag}.err")
    handler = spawn([args.uffd_handler, path, mem], err)
    out = Serial(handler)
    deadline = time.monotonic() + timeout_s
    while b"hearth-uffd-handler: listening on" not in out.buf:
        if handler.poll() is not None or time.monotonic() > deadline:
            stop(handler)
            raise BenchError(f"uffd handler did not start: {read_tail(err)}")
        time.sleep(POLL_S)
    return handler


def hearth_restore(args, d, state, mem, backend, timeout_s, tag):
    """A fresh hearth, PUT /snapshot/load, the first tick line. Returns the measurements."""
    handler = None
    proc = None
    try:
        path = mem
        if backend == "Uffd":
            path = os.path.join(d, f"uffd-{tag}.sock")
            handler = start_uffd_handler(args, d, path, mem, timeout_s, tag)
        sock = os.path.join(d, f"api-{tag}.sock")
        t_start = time.monotonic()
        proc = spawn([args.hearth, "--api-sock", sock], os.path.join(d, f"hearth-{tag}.err"))
        serial = Serial(proc)
        api = Api(sock, timeout_s, proc)
        connect_unix(sock, timeout_s, proc).close()
        t_load = time.monotonic()
        api.call("PUT", "/snapshot/load", {"snapshot_path": state,
                                           "mem_backend": {"backend_type": backend, "backend_path": path},
                                           "resume_vm": True})
        t_loaded = time.monotonic()
        t_tick, n = serial.wait_ticks(1, timeout_s)
        api.close()
        return {"load_to_tick_ms": ms(t_load, t_tick), "start_to_tick_ms": ms(t_start, t_tick),
                "load_api_ms": ms(t_load, t_loaded), "first_tick": n}
    except BenchError as e:
        raise BenchError(f"restore {backend}: {e}; hearth stderr: {read_tail(os.path.join(d, f'hearth-{tag}.err'))}")
    finally:
        stop(proc)
        stop(handler)


def hearth_cli_restore(args, d, state, mem, backend, timeout_s):
    """`hearth --restore-from <state> --mem-file <mem>` (or --mem-uffd-socket): process start -> first tick."""
    handler = None
    proc = None
    err = os.path.join(d, f"hearth-cli-{backend}.err")
    try:
        if backend == "Uffd":
            path = os.path.join(d, "uffd-cli.sock")
            handler = start_uffd_handler(args, d, path, mem, timeout_s, "cli")
            mem_args = ["--mem-uffd-socket", path]
        else:
            mem_args = ["--mem-file", mem]
        t_start = time.monotonic()
        proc = spawn([args.hearth, "--restore-from", state] + mem_args + ["--api-sock", os.path.join(d, "cli.sock")],
                     err)
        t_tick, n = Serial(proc).wait_ticks(1, timeout_s)
        return {"start_to_tick_ms": ms(t_start, t_tick), "first_tick": n}
    except BenchError as e:
        raise BenchError(f"restore CLI {backend}: {e}; hearth stderr: {read_tail(err)}")
    finally:
        stop(proc)
        stop(handler)


def hearth_run(args, mem_mib, tmp, i):
    d = tempfile.mkdtemp(prefix=f"hearth-{mem_mib}-{i}-", dir=tmp)
    r = {"ok": False}
    timeout_s = args.timeout
    proc = None
    try:
        cfg = os.path.join(d, "vm.json")
        with open(cfg, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args},
                       "machine-config": {"vcpu_count": 1, "mem_size_mib": mem_mib, "track_dirty_pages": True}}, f)
        sock = os.path.join(d, "api.sock")
        proc = spawn([args.hearth, "--api-sock", sock, "--config-file", cfg], os.path.join(d, "hearth.err"))
        serial = Serial(proc)
        serial.wait_ticks(TICKS_BEFORE_SNAPSHOT, timeout_s)
        api = Api(sock, timeout_s, proc)
        state, mem = os.path.join(d, "full.state"), os.path.join(d, "full.mem")
        api.call("PATCH", "/vm", {"state": "Paused"})
        time.sleep(0.05)  # let a tick line being printed reach us
        last_before = serial.ticks[-1][1]
        t0 = time.monotonic()
        api.call("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": state, "mem_file_path": mem})
        r["create_full_ms"] = ms(t0, time.monotonic())
        r["full_mem_kib_on_disk"] = os.stat(mem).st_blocks // 2
        r["state_kib"] = round(os.path.getsize(state) / 1024, 1)
        api.call("PATCH", "/vm", {"state": "Resumed"})
        serial.wait_ticks(len(serial.ticks) + TICKS_BEFORE_SNAPSHOT, timeout_s)
        api.call("PATCH", "/vm", {"state": "Paused"})
        dstate, dmem = os.path.join(d, "diff.state"), os.path.join(d, "diff.mem")
        t0 = time.monotonic()
        api.call("PUT", "/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": dstate, "mem_file_path": dmem})
        r["create_diff_ms"] = ms(t0, time.monotonic())
        r["diff_mem_kib_on_disk"] = os.stat(dmem).st_blocks // 2
        api.close()
        stop(proc)
        proc = None
        f = hearth_restore(args, d, state, mem, "File", timeout_s, "file")
        check_continues(f["first_tick"], last_before, "restore File")
        r.update({f"file_{k}": v for k, v in f.items()})
        if args.uffd_handler:
            u = hearth_restore(args, d, state, mem, "Uffd", timeout_s, "uffd")
            check_continues(u["first_tick"], last_before, "restore Uffd")
            r.update({f"uffd_{k}": v for k, v in u.items()})
        if args.cli_restore:
            for backend in ("File", "Uffd") if args.uffd_handler else ("File",):
                c = hearth_cli_restore(args, d, state, mem, backend, timeout_s)
                check_continues(c["first_tick"], last_before, f"restore CLI {backend}")
                r.update({f"cli_{backend.lower()}_{k}": v for k, v in c.items()})
        r["ok"] = True
    except (BenchError, OSError, http.client.HTTPException) as e:
        r["error"] = str(e)
        r["stderr_tail"] = read_tail(os.path.join(d, "hearth.err"))
    finally:
        stop(proc)
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


def qemu_argv(args, mem_mib, qmp_path):
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=off", "-cpu", "qemu64,-cx16,-pni",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", str(mem_mib),
            "-global", "virtio-mmio.force-legacy=false", "-kernel", args.guest, "-append", args.boot_args,
            "-qmp", f"unix:{qmp_path},server=on,wait=off"]


def qemu_run(args, mem_mib, tmp, i):
    d = tempfile.mkdtemp(prefix=f"qemu-{mem_mib}-{i}-", dir=tmp)
    r = {"ok": False}
    timeout_s = args.timeout
    proc = None
    err = os.path.join(d, "qemu.err")
    try:
        q1 = os.path.join(d, "qmp1.sock")
        proc = spawn(qemu_argv(args, mem_mib, q1), err)
        serial = Serial(proc)
        serial.wait_ticks(TICKS_BEFORE_SNAPSHOT, timeout_s)
        qmp = Qmp(q1, timeout_s, proc)
        state = os.path.join(d, "vm.state")
        qmp.cmd("stop")
        time.sleep(0.05)
        last_before = serial.ticks[-1][1]
        t0 = time.monotonic()
        qmp.cmd("migrate", uri=f"exec:cat > {state}")
        deadline = t0 + timeout_s
        while (st := qmp.cmd("query-migrate").get("status")) not in ("completed", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise BenchError(f"migration still {st} after {timeout_s} s")
            time.sleep(POLL_S)
        r["save_ms"] = ms(t0, time.monotonic())
        if st != "completed":
            raise BenchError(f"migration {st}")
        r["stream_kib"] = os.stat(state).st_blocks // 2
        qmp.close()
        stop(proc)

        q2 = os.path.join(d, "qmp2.sock")
        err = os.path.join(d, "qemu-incoming.err")
        t_start = time.monotonic()
        proc = spawn(qemu_argv(args, mem_mib, q2) + ["-incoming", f"exec:cat {state}"], err)
        serial = Serial(proc)
        qmp = Qmp(q2, timeout_s, proc)
        deadline = time.monotonic() + timeout_s
        while (st := qmp.cmd("query-status")["status"]) == "inmigrate":
            if time.monotonic() > deadline:
                raise BenchError(f"incoming migration not done after {timeout_s} s")
            time.sleep(POLL_S)
        t_ready = time.monotonic()
        if st != "paused":
            raise BenchError(f"after the incoming migration the VM is {st}, not paused")
        t_cont = time.monotonic()
        qmp.cmd("cont")
        t_tick, n = serial.wait_ticks(1, timeout_s)
        check_continues(n, last_before, "restore")
        qmp.close()
        r.update({"cont_to_tick_ms": ms(t_cont, t_tick), "start_to_tick_ms": ms(t_start, t_tick),
                  "start_to_loaded_ms": ms(t_start, t_ready), "first_tick": n, "ok": True})
    except (BenchError, OSError, ValueError) as e:
        r["error"] = str(e)
        r["stderr_tail"] = read_tail(err)
    finally:
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)
    return r


# --- report ----------------------------------------------------------------------------------------

# (label, Hearth key, QEMU key)
ROWS = [
    ("save: create Full / migrate to file", "create_full_ms", "save_ms"),
    ("save: create Diff", "create_diff_ms", None),
    ("restore File: load (Hearth) / cont (QEMU) -> tick", "file_load_to_tick_ms", "cont_to_tick_ms"),
    ("restore File: process start -> tick", "file_start_to_tick_ms", "start_to_tick_ms"),
    ("restore File: load API -> 204 / start -> loaded", "file_load_api_ms", "start_to_loaded_ms"),
    ("restore Uffd: load -> tick", "uffd_load_to_tick_ms", None),
    ("restore Uffd: process start -> tick", "uffd_start_to_tick_ms", None),
    ("restore CLI --restore-from --mem-file: start -> tick", "cli_file_start_to_tick_ms", None),
    ("restore CLI --mem-uffd-socket: start -> tick", "cli_uffd_start_to_tick_ms", None),
    ("on disk (KiB): Full memory file / migration file", "full_mem_kib_on_disk", "stream_kib"),
    ("on disk (KiB): Diff memory file", "diff_mem_kib_on_disk", None),
    ("state file (KiB)", "state_kib", None),
]


def stat_cell(runs, key):
    if key is None:
        return "-"
    vals = [r[key] for r in runs if r["ok"] and r.get(key) is not None]
    if not vals:
        return "-"
    s = sorted(vals)
    median = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    return f"{median:.1f} / {p90(vals):.1f}"


def main():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("--mem-mib", default="128,1024", help="guest memory sizes, comma-separated")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--tick-ms", type=int, default=1, help="testguest.tick_ms of the counter guest")
    p.add_argument("--uffd-handler", default="build/hearth-uffd-handler",
                   help="hearth-uffd-handler binary ('' skips the Uffd restore)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds for any one step")
    p.add_argument("--only", action="append", choices=["hearth", "qemu"])
    p.add_argument("--out", default="", help="also write a JSON report here")
    args = p.parse_args()
    benchlib.check_guest(p, args)
    mems = [int(m) for m in args.mem_mib.split(",") if m]
    args.boot_args = f"console=ttyS0 testguest.run=counter testguest.ticks=0 testguest.tick_ms={args.tick_ms}"
    sides, skipped = benchlib.runnable_sides(args, args.only)
    args.cli_restore = "hearth" in sides and hearth_supports_cli_restore(args.hearth)
    if args.uffd_handler and not os.access(args.uffd_handler, os.X_OK):
        print(f"skipping the Uffd restore: {args.uffd_handler} not found")
        args.uffd_handler = ""
    results = {m: {s: [] for s in sides} for m in mems}
    with tempfile.TemporaryDirectory(prefix="hearth-snapshot-bench-") as tmp:
        for mem in mems:
            for i in range(args.runs):  # interleaved, so host load hits both sides alike
                for side in sides:
                    r = (hearth_run if side == "hearth" else qemu_run)(args, mem, tmp, i)
                    results[mem][side].append(r)
                    if r["ok"]:
                        keys = ("create_full_ms", "file_load_to_tick_ms") if side == "hearth" else \
                            ("save_ms", "cont_to_tick_ms")
                        state = ", ".join(f"{k} {r.get(k)}" for k in keys)
                    else:
                        state = f"FAILED: {r['error']}"
                    print(f"  {mem} MiB {side} run {i + 1}: {state}", flush=True)
                    if not r["ok"] and r.get("stderr_tail", "").strip():
                        print("    stderr: " + r["stderr_tail"].strip().replace("\n", "\n            "))
    print(f"\nguest: {args.boot_args} (no drive); {args.runs} runs per side and size; ms, median / p90")
    header = ["metric"] + [f"{s} {m} MiB" for m in mems for s in sides]
    rows = []
    for label, hkey, qkey in ROWS:
        rows.append([label] + [stat_cell(results[m][s], hkey if s == "hearth" else qkey) for m in mems for s in sides])
    rows.append(["ok runs"] + [f"{sum(r['ok'] for r in results[m][s])}/{len(results[m][s])}" for m in mems
                               for s in sides])
    benchlib.print_table(header, rows)
    if args.out:
        benchlib.write_report(args.out, {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
            "boot_args": args.boot_args, "results": {str(m): v for m, v in results.items()}, "skipped": skipped})
    return 0 if all(r["ok"] for v in results.values() for runs in v.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
