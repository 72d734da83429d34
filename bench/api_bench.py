#!/usr/bin/env python3
"""Control-plane benchmark: Hearth's REST API vs QEMU's QMP, on a Unix socket.

(a) start-up: fork/exec -> the socket accepts a connection and answers (Hearth: `GET /` returns 200;
    QEMU: the QMP greeting arrives), with the process's CPU time and RSS at that moment.
(b) round trip: on one connection, N x `PUT /machine-config` (Hearth, 204 expected) or
    N x `query-status` (QEMU, after `qmp_capabilities`), each timed from send to full reply.
See bench/README.md. Python 3 standard library only; HTTP/1.1 and QMP are spoken by hand.
"""

import datetime
import glob
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib  # bench/benchlib.py: Python puts the script's own folder on sys.path

CONNECT_POLL_S = 0.0005  # between connect attempts while the socket is not up yet
MACHINE_CONFIG = b'{"vcpu_count": 2, "mem_size_mib": 256}'


class BenchError(Exception):
    pass


class Conn:
    """A connected AF_UNIX stream with a receive buffer and a deadline for every read."""

    def __init__(self, sock, timeout_s):
        self.sock = sock
        self.sock.settimeout(timeout_s)
        self.buf = bytearray()

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise BenchError("timed out waiting for a reply") from None
        if not chunk:
            raise BenchError("peer closed the connection")
        self.buf += chunk

    def read_until(self, marker):
        while True:
            at = self.buf.find(marker)
            if at >= 0:
                out = bytes(self.buf[:at + len(marker)])
                del self.buf[:at + len(marker)]
                return out
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        self.sock.close()


# --- HTTP/1.1 (Hearth) ---------------------------------------------------------------------------

def http_request(conn, method, path, body=None):
    """Sends one keep-alive request and returns (status, body bytes)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    conn.sock.sendall(head.encode() + b"\r\n" + (body or b""))
    return http_response(conn)


def http_response(conn):
    head = conn.read_until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BenchError(f"bad HTTP status line: {lines[0]!r}")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise BenchError("chunked responses are not supported by this benchmark")
    return int(parts[1]), conn.read_exact(length)


def hearth_ready(conn):
    status, body = http_request(conn, "GET", "/")
    if status != 200:
        raise BenchError(f"GET / returned {status}: {body[:200]!r}")
    info = json.loads(body)
    if info.get("app_name") != "Hearth":
        raise BenchError(f"GET / returned an unexpected body: {body[:200]!r}")


def hearth_round_trip(conn):
    status, body = http_request(conn, "PUT", "/machine-config", MACHINE_CONFIG)
    if status != 204:
        raise BenchError(f"PUT /machine-config returned {status}: {body[:200]!r}")


# --- QMP (QEMU) ----------------------------------------------------------------------------------

def qmp_message(conn):
    """Next reply, skipping asynchronous events (QMP sends one JSON object per line)."""
    while True:
        msg = json.loads(conn.read_until(b"\n"))
        if "event" not in msg:
            return msg


def qmp_ready(conn):
    greeting = qmp_message(conn)
    if "QMP" not in greeting:
        raise BenchError(f"no QMP greeting: {greeting!r}")


def qmp_execute(conn, command):
    conn.sock.sendall(json.dumps({"execute": command}).encode() + b"\n")
    reply = qmp_message(conn)
    if "return" not in reply:
        raise BenchError(f"{command} failed: {reply!r}")
    return reply["return"]


def qmp_round_trip(conn):
    qmp_execute(conn, "query-status")


# --- processes -----------------------------------------------------------------------------------

def hearth_argv(args, sock_path):
    return [args.hearth, "--api-sock", sock_path]


def qemu_argv(args, sock_path):
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm", "-nodefaults", "-no-user-config",
            "-nographic", "-S", "-qmp", f"unix:{sock_path},server=on,wait=off", "-display", "none"]


SIDES = {
    "hearth": {"argv": hearth_argv, "ready": hearth_ready, "round_trip": hearth_round_trip,
               "socket": "api.sock", "request": "PUT /machine-config (204)"},
    "qemu": {"argv": qemu_argv, "ready": qmp_ready, "round_trip": qmp_round_trip,
             "socket": "qmp.sock", "request": "QMP query-status"},
}


def live_threads_cpu_ns(pid):
    """On-CPU ns of the live threads (first field of each task's schedstat); None if unreadable."""
    total = 0
    try:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            with open(path) as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
        return None
    return total


def connect_when_up(sock_path, proc, t0, timeout_s):
    """Polls connect() on sock_path until it succeeds; BenchError if proc exits or t0 + timeout_s passes."""
    deadline = t0 + timeout_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(sock_path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
        if proc.poll() is not None:
            raise BenchError(f"exited with {proc.returncode} before its socket accepted")
        if time.monotonic() > deadline:
            raise BenchError(f"socket not accepting after {timeout_s} s")
        time.sleep(CONNECT_POLL_S)


def start(side, args, tmp):
    """Starts the VMM, waits until its socket answers, returns (proc, conn, t0, t_ready)."""
    sock_path = os.path.join(tmp, SIDES[side]["socket"])
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    stderr = open(os.path.join(tmp, f"{side}.err"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(SIDES[side]["argv"](args, sock_path), stdin=subprocess.DEVNULL,
                            stdout=stderr, stderr=stderr, close_fds=True)
    stderr.close()
    deadline = t0 + args.timeout
    try:
        sock = connect_when_up(sock_path, proc, t0, args.timeout)
        conn = Conn(sock, max(0.1, deadline - time.monotonic()))
        try:
            SIDES[side]["ready"](conn)
        except (OSError, ValueError) as e:  # reset connection, malformed JSON
            raise BenchError(f"bad first reply: {e}") from None
        t_ready = time.monotonic()
        conn.sock.settimeout(args.timeout)
        return proc, conn, t0, t_ready
    except BaseException:
        stop(proc)
        raise


def stop(proc):
    """SIGKILL and reap; returns the rusage (SIGKILL so that no graceful-shutdown work is counted)."""
    if proc.returncode is None:
        proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return usage
    return None


def stderr_tail(tmp, side):
    try:
        with open(os.path.join(tmp, f"{side}.err"), "rb") as f:
            return f.read()[-400:].decode(errors="replace")
    except FileNotFoundError:
        return ""


def startup_run(side, args, tmp):
    try:
        proc, conn, t0, t_ready = start(side, args, tmp)
    except BenchError as e:
        return {"ok": False, "error": str(e), "stderr_tail": stderr_tail(tmp, side)}
    # Freeze it first so that the CPU readings are those of the moment it answered.
    os.kill(proc.pid, signal.SIGSTOP)
    live_ns = live_threads_cpu_ns(proc.pid)
    rss = benchlib.proc_status_kib(proc.pid, "VmRSS")
    conn.close()
    usage = stop(proc)
    return {
        "ok": True,
        "ready_ms": round((t_ready - t0) * 1000, 2),
        "cpu_ms": round((usage.ru_utime + usage.ru_stime) * 1000, 2),
        "user_ms": round(usage.ru_utime * 1000, 2),
        "sys_ms": round(usage.ru_stime * 1000, 2),
        "live_threads_cpu_ms": None if live_ns is None else round(live_ns / 1e6, 2),
        "rss_mib": None if rss is None else round(rss / 1024, 2),
    }


def latency_run(side, args, tmp):
    """One process: warm-up, then args.requests timed round trips on one connection (µs each)."""
    proc, conn, _, _ = start(side, args, tmp)
    try:
        if side == "qemu":
            qmp_execute(conn, "qmp_capabilities")
        trip = SIDES[side]["round_trip"]
        for _ in range(args.warmup):
            trip(conn)
        samples = []
        for _ in range(args.requests):
            t = time.perf_counter_ns()
            trip(conn)
            samples.append((time.perf_counter_ns() - t) / 1000)
        return samples
    except (OSError, ValueError) as e:  # reset connection, malformed JSON
        raise BenchError(str(e)) from None
    finally:
        conn.close()
        stop(proc)


# --- reporting -----------------------------------------------------------------------------------

STARTUP_METRICS = [("ready_ms", "socket ready (ms)"), ("cpu_ms", "CPU user+sys (ms)"),
                   ("live_threads_cpu_ms", "CPU at ready, live threads (ms)"),
                   ("rss_mib", "RSS at ready (MiB)")]


def parse_args():
    p = benchlib.arg_parser(__doc__, guest=False)
    p.add_argument("-n", "--iterations", type=int, default=50, help="start-ups per side")
    p.add_argument("--requests", type=int, default=1000, help="timed round trips per side")
    p.add_argument("--warmup", type=int, default=10, help="untimed round trips before those")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to readiness / per reply")
    p.add_argument("--only", choices=["hearth", "qemu"], help="run one side only")
    p.add_argument("--out", default="bench/out/api.json")
    args = p.parse_args()
    if args.iterations < 1 or args.requests < 1 or args.warmup < 0:
        p.error("--iterations and --requests must be at least 1, --warmup at least 0")
    return args


def main():
    args = parse_args()
    sides, skipped = benchlib.runnable_sides(args, args.only)
    for side in sides:
        print(f"{side}: {' '.join(SIDES[side]['argv'](args, '<tmp>/' + SIDES[side]['socket']))}")

    results = {s: {"startup_runs": [], "latency_us": None, "errors": []} for s in sides}
    with tempfile.TemporaryDirectory(prefix="hearth-api-bench-") as tmp:
        # Interleaved, so that a change in the host's load hits both sides alike.
        for i in range(args.iterations):
            for side in sides:
                r = startup_run(side, args, tmp)
                results[side]["startup_runs"].append(r)
                if not r["ok"]:
                    print(f"  {side} start-up {i + 1}: FAILED: {r['error']}\n    stderr: {r['stderr_tail'].strip()}")
        for side in sides:
            print(f"{side}: {args.requests} round trips ({SIDES[side]['request']})", flush=True)
            try:
                results[side]["latency_us"] = latency_run(side, args, tmp)
            except BenchError as e:
                results[side]["errors"].append(f"round trips: {e}")
                print(f"  {side} round trips: FAILED: {e}\n    stderr: {stderr_tail(tmp, side).strip()}")

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "loadavg": os.getloadavg()},
        "iterations": args.iterations, "requests": args.requests, "warmup": args.warmup,
        "results": {}, "skipped": skipped,
    }
    rows = []
    for key, label in STARTUP_METRICS:
        rows.append([label] + [benchlib.cell(benchlib.summarize_runs(results[s]["startup_runs"], key))
                               for s in sides])
    rows.append(["ok start-ups"] + [f"{sum(r['ok'] for r in results[s]['startup_runs'])}/{args.iterations}"
                                    for s in sides])
    lat_rows = [["request"] + [SIDES[s]["request"] for s in sides]]
    for label, fn in [("median (µs)", statistics.median), ("p99 (µs)", lambda v: benchlib.percentile(v, 99)),
                      ("min (µs)", min), ("max (µs)", max)]:
        lat_rows.append([label] + [f"{fn(results[s]['latency_us']):.1f}" if results[s]["latency_us"] else "-"
                                   for s in sides])
    for side in sides:
        lat = results[side]["latency_us"]
        report["results"][side] = {
            "argv": SIDES[side]["argv"](args, "<tmp>/" + SIDES[side]["socket"]),
            "startup_runs": results[side]["startup_runs"],
            "startup_summary": {key: benchlib.summarize_runs(results[side]["startup_runs"], key)
                                for key, _ in STARTUP_METRICS},
            "round_trip": SIDES[side]["request"],
            "latency_summary_us": None if not lat else {
                "median": round(statistics.median(lat), 2), "p99": round(benchlib.percentile(lat, 99), 2),
                "min": round(min(lat), 2), "max": round(max(lat), 2), "mean": round(statistics.mean(lat), 2),
                "n": len(lat)},
            "latency_us": None if not lat else [round(v, 2) for v in lat],
            "errors": results[side]["errors"],
        }

    print()
    print(f"start-up, {args.iterations} runs each: median [min..max]")
    benchlib.print_table(["metric"] + sides, rows)
    print()
    print(f"round trips on one connection, {args.requests} timed after {args.warmup} untimed")
    benchlib.print_table(["metric"] + sides, lat_rows)
    benchlib.write_report(args.out, report)
    if not sides:
        print("nothing was measured: every side was skipped", file=sys.stderr)
        return 1
    failed = any(not r["ok"] for s in sides for r in results[s]["startup_runs"]) or \
        any(results[s]["errors"] for s in sides)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
