#!/usr/bin/env python3
"""Cost of seccomp on the exit path and of jailing, side by side in one run.

(a) PIO round trip: the test guest's `pio-rate` self-test does N single-byte `outb` to a port no device
    claims, under Hearth with its seccomp filters and with --no-seccomp, and under QEMU microvm with
    -sandbox on and off. ns per exit = host monotonic time from the guest's `pio-rate: start` line to its
    result line, / N (the guest's own TSC figure is kept too, but its PIT calibration is noisy here). Every exit is one KVM_RUN return and
    re-entry, so the on/off difference is what the filters cost one system call.
(b) Jailing: exec -> the API socket accepts a connection, for plain `hearth --api-sock`, for
    `hearth-jailer ... -- --api-sock /run/api.sock`, and for the jailer with --new-pid-ns and a cgroup
    value; with the time until the jailer execs hearth (its own share).
Sides are interleaved round-robin, so a change in the host's load hits all of them. See bench/README.md.
Python 3 standard library only; must run as root for the jailer sides.
"""

import ctypes
import datetime
import grp
import json
import os
import platform
import pwd
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import api_bench  # Conn, hearth_ready, connect_when_up: bench/api_bench.py's hand-written client
import benchlib  # bench/benchlib.py: Python puts the script's own folder on sys.path

JAIL_UID = JAIL_GID = 65534
PR_SET_CHILD_SUBREAPER = 36
PIO_LINE_RE = re.compile(rb"^pio-rate: count=(\d+) port=(0x[0-9a-f]+) ticks=(\d+) ns_per_exit=([0-9.]+) "
                         rb"tsc_khz=(\d+) source=(\S+)\r?$", re.M)
START_LINE_RE = re.compile(rb"^pio-rate: start count=\d+ port=0x[0-9a-f]+\r?\n", re.M)
PIO_SIDES = ["hearth", "hearth --no-seccomp", "qemu -sandbox on", "qemu -sandbox off"]
JAIL_SIDES = ["plain", "jailer", "jailer pid-ns+cgroup"]


def ms(t0, t1):
    return None if t0 is None or t1 is None else round((t1 - t0) * 1000.0, 3)


def tail(path, n=600):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except FileNotFoundError:
        return ""


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def seccomp_threads(pid):
    """(threads in seccomp filter mode, all threads) of a live process, from each task's Seccomp field."""
    filtered = total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    for tid in tids:
        status = read_text(f"/proc/{pid}/task/{tid}/status")
        m = re.search(r"^Seccomp:\s*(\d+)", status or "", re.M)
        if m:
            total += 1
            filtered += m.group(1) == "2"
    return filtered, total


# --- (a) PIO round trip ----------------------------------------------------------------------------

def pio_argv(side, args, tmp):
    boot_args = f"console=ttyS0 testguest.run=pio-rate testguest.pio_count={args.count}"
    if side.startswith("hearth"):
        config = os.path.join(tmp, "pio.json")
        with open(config, "w") as f:
            f.write(json.dumps({
                "boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": boot_args},
                "machine-config": {"vcpu_count": 1, "mem_size_mib": args.mem_mib}}))
        return [args.hearth, "--config-file", config, "--no-api"] + (["--no-seccomp"] if "no-seccomp" in side else [])
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=on", "-cpu", "qemu64,-cx16", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", str(args.mem_mib), "-smp", "1",
            "-sandbox", "on" if side.endswith("on") else "off", "-kernel", args.guest, "-append", boot_args]


def pio_run(side, args, tmp):
    """One boot of the pio-rate guest; the guest's figures, and which threads were filtered while it ran."""
    argv = pio_argv(side, args, tmp)
    err_path = os.path.join(tmp, "pio.err")
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, close_fds=True)
    out = bytearray()
    filtered = t_start = t_end = None
    timed_out = False
    deadline = t0 + args.timeout
    try:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                timed_out = True
                proc.kill()
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            now = time.monotonic()
            out += chunk
            # The loop runs between these two lines; each is timed when its bytes reach the pipe.
            if t_start is None and START_LINE_RE.search(out):
                t_start = now
                # Every thread of the VMM exists by now.
                filtered = seccomp_threads(proc.pid)
            if t_start is not None and t_end is None and b"pio-rate: count=" in out:
                t_end = now
    finally:
        rc = proc.wait()
        proc.stdout.close()
    t_exit = time.monotonic()
    r = {"ok": False, "argv": argv, "rc": rc, "timed_out": timed_out, "wall_ms": ms(t0, t_exit),
         "filtered_threads": filtered[0] if filtered else None, "threads": filtered[1] if filtered else None,
         "stdout_tail": out[-400:].decode(errors="replace"), "stderr_tail": tail(err_path)}
    m = PIO_LINE_RE.search(out)
    if m:
        r.update(count=int(m.group(1)), port=m.group(2).decode(), ticks=int(m.group(3)),
                 guest_ns_per_exit=float(m.group(4)), tsc_khz=int(m.group(5)), tsc_source=m.group(6).decode())
        if t_start is not None and t_end is not None:
            r["loop_ms"] = ms(t_start, t_end)
            r["ns_per_exit"] = round((t_end - t_start) * 1e9 / r["count"], 1)
            r["host_tsc_khz"] = round(r["ticks"] / (t_end - t_start) / 1000)  # what the guest's TSC really ran at
    want_filtered = side in ("hearth", "qemu -sandbox on")
    if timed_out:
        r["error"] = f"timed out after {args.timeout} s"
    elif rc != 0 or b"TESTGUEST PASS" not in out:
        r["error"] = f"rc={rc}, no TESTGUEST PASS"
    elif not m or r["count"] != args.count or "ns_per_exit" not in r:
        r["error"] = "no pio-rate start and result lines with the count asked for"
    elif not filtered or filtered[1] == 0:
        r["error"] = "could not read the threads' Seccomp field"
    elif want_filtered and filtered[0] != filtered[1]:
        r["error"] = f"only {filtered[0]} of {filtered[1]} threads were filtered"
    elif not want_filtered and filtered[0] != 0:
        r["error"] = f"{filtered[0]} of {filtered[1]} threads were filtered (HEARTH_SECCOMP_REQUIRE set?)"
    else:
        r["ok"] = True
    return r


# --- (b) jailing -----------------------------------------------------------------------------------

def cpu_v1_mount():
    """The cgroup v1 hierarchy with the cpu controller, or None (as tests/integration/jailer_test.cpp)."""
    for line in (read_text("/proc/self/mounts") or "").splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] == "cgroup" and "cpu" in f[3].split(","):
            return f[1]
    return None


def jail_skip_reason(args):
    if os.geteuid() != 0:
        return "needs root"
    if not os.access(args.jailer, os.X_OK):
        return f"jailer '{args.jailer}' not found or not executable"
    try:
        pwd.getpwuid(JAIL_UID)
        grp.getgrgid(JAIL_GID)
    except KeyError:
        return f"no user {JAIL_UID} or group {JAIL_GID} on this host"
    return None


def comm(pid):
    text = read_text(f"/proc/{pid}/comm")
    return text.strip() if text else None


def read_pid_file(path):
    text = read_text(path)
    return int(text) if text and text.strip().isdigit() else None


def kill_and_reap(pid):
    """SIGKILL and reap a child (or an orphan we are the subreaper of)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def jail_run(side, args, tmp, jail_id):
    """exec -> API socket accepting; for the jailer sides also exec -> hearth's exec (comm turns 'hearth')."""
    base = args.chroot_base_dir
    jail = os.path.join(base, "hearth", jail_id)
    if side == "plain":
        sock_path = os.path.join(tmp, "api.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        argv = [args.hearth, "--api-sock", sock_path]
    else:
        sock_path = os.path.join(jail, "root", "run", "api.sock")
        argv = [args.jailer, "--id", jail_id, "--exec-file", args.hearth, "--uid", str(JAIL_UID), "--gid",
                str(JAIL_GID), "--chroot-base-dir", base]
        if side == "jailer pid-ns+cgroup":
            argv += ["--new-pid-ns", "--cgroup", "cpu.shares=512"]
        argv += ["--", "--api-sock", "/run/api.sock"]
    pid_ns = "pid-ns" in side
    err_path = os.path.join(tmp, "jail.err")
    r = {"ok": False, "argv": argv, "id": jail_id if side != "plain" else None}
    hearth_pid = None
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, close_fds=True)
    t_exec = t_jailer_exit = None
    deadline = t0 + args.timeout
    try:
        if not pid_ns:
            hearth_pid = proc.pid
        if side == "plain":
            sock = api_bench.connect_when_up(sock_path, proc, t0, args.timeout)
            t_ready = time.monotonic()
        while side != "plain":
            now = time.monotonic()
            if pid_ns and hearth_pid is None:
                hearth_pid = read_pid_file(os.path.join(jail, "root", "hearth.pid"))
            if side != "plain" and t_exec is None and hearth_pid is not None and comm(hearth_pid) == "hearth":
                t_exec = now
            if pid_ns and t_jailer_exit is None and proc.poll() is not None:
                t_jailer_exit = now
                if proc.returncode != 0:
                    raise api_bench.BenchError(f"jailer exited with {proc.returncode}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(sock_path)
                t_ready = time.monotonic()
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
            if not pid_ns and proc.poll() is not None:
                raise api_bench.BenchError(f"exited with {proc.returncode} before its socket accepted")
            if now > deadline:
                raise api_bench.BenchError(f"socket not accepting after {args.timeout} s")
            time.sleep(api_bench.CONNECT_POLL_S)  # between connect attempts and exec checks
        # Untimed: the socket must be Hearth's API, answering.
        conn = api_bench.Conn(sock, args.timeout)
        try:
            api_bench.hearth_ready(conn)
        finally:
            conn.close()
        if side != "plain" and t_exec is None:
            t_exec = t_ready  # exec and readiness fell within one poll
        r.update(ok=True, ready_ms=ms(t0, t_ready), exec_ms=ms(t0, t_exec), hearth_ms=ms(t_exec, t_ready),
                 jailer_exit_ms=ms(t0, t_jailer_exit))
    except (api_bench.BenchError, OSError, ValueError) as e:
        r["error"] = str(e)
    finally:
        if pid_ns:
            # The jailer exits by itself; only then is its child, hearth, ours to reap (subreaper).
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            hearth_pid = hearth_pid or read_pid_file(os.path.join(jail, "root", "hearth.pid"))
            if hearth_pid is not None:
                kill_and_reap(hearth_pid)
        elif proc.returncode is None:
            proc.kill()
        proc.wait()
        r["stderr_tail"] = tail(err_path)
        r["cleanup"] = cleanup_jail(jail, jail_id) if side != "plain" else None
    return r


def cleanup_jail(jail, jail_id):
    """Removes the jail directory and the run's cgroup; returns what could not be removed, or None."""
    left = []
    shutil.rmtree(jail, ignore_errors=True)
    if os.path.exists(jail):
        left.append(jail)
    cpu = cpu_v1_mount()
    cg = os.path.join(cpu, "hearth", jail_id) if cpu else None
    if cg and os.path.isdir(cg):
        for _ in range(100):  # the cgroup stays busy until its last task is fully gone
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.01)
        if os.path.isdir(cg):
            left.append(cg)
    return left or None


# --- main ------------------------------------------------------------------------------------------

PIO_ROWS = [("ns_per_exit", "PIO round trip, host-timed (ns per exit)", 0),
            ("guest_ns_per_exit", "same, guest TSC at its calibrated rate (ns)", 0),
            ("loop_ms", "the loop, host-timed (ms)", 0), ("wall_ms", "whole boot, exec to exit (ms)", 0)]
JAIL_ROWS = [("ready_ms", "exec -> API socket accepting (ms)", 1),
             ("exec_ms", "exec -> hearth exec'd (jailer's share, ms)", 1),
             ("hearth_ms", "hearth exec'd -> socket accepting (ms)", 1),
             ("jailer_exit_ms", "exec -> jailer exited (ms)", 1)]


def values(runs, key):
    return [r[key] for r in runs if r["ok"] and r.get(key) is not None]


def print_side_table(title, results, sides, rows, skipped):
    print(f"\n{title}")
    header = ["median / p90"] + sides
    table = [[label] + [benchlib.cell_p90(benchlib.summarize_p90(values(results[s], key)), d) if s in results
                        else "skipped"
                        for s in sides] for key, label, d in rows]
    table.append(["ok runs"] + [f"{sum(r['ok'] for r in results[s])}/{len(results[s])}" if s in results
                                else "skipped" for s in sides])
    benchlib.print_table(header, table)
    for s in sides:
        if s in skipped:
            print(f"  {s}: skipped: {skipped[s]}")


def filter_cost(results, on, off):
    """Median ns per exit with filters minus without, or None."""
    a, b = values(results.get(on, []), "ns_per_exit"), values(results.get(off, []), "ns_per_exit")
    return round(statistics.median(a) - statistics.median(b), 1) if a and b else None


def parse_args():
    p = benchlib.arg_parser(__doc__)
    p.set_defaults(hearth=None, guest=None)
    p.add_argument("--build", default="build",
                   help="build directory: the defaults of --hearth, --jailer and --guest are under it")
    p.add_argument("--jailer", default=None, help="hearth-jailer binary")
    p.add_argument("--runs", type=int, default=10, help="runs per side, interleaved")
    p.add_argument("--count", type=int, default=20000, help="PIO writes per boot (testguest.pio_count)")
    p.add_argument("--mem-mib", type=int, default=64)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds for one boot or one start-up")
    p.add_argument("--only", choices=["pio", "jail"], help="run one half only")
    p.add_argument("--chroot-base-dir", default=None,
                   help="where jails go (default: a temporary folder next to the hearth binary, so the "
                        "jailer hard-links it rather than copying)")
    p.add_argument("--out", "--json", dest="out", default="bench/out/seccomp.json", help="JSON report")
    args = p.parse_args()
    args.hearth = args.hearth or os.path.join(args.build, "hearth")
    args.jailer = args.jailer or os.path.join(args.build, "hearth-jailer")
    args.guest = args.guest or os.path.join(args.build, "tests", "guest", "testguest.elf")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if not 1 <= args.count <= 10_000_000:
        p.error("--count must be in 1..10000000 (the guest's bound)")
    if args.only != "jail":
        benchlib.check_guest(p, args)
    return args


def main():
    args = parse_args()
    skipped = {}
    pio_sides = [] if args.only == "jail" else list(PIO_SIDES)
    jail_sides = [] if args.only == "pio" else list(JAIL_SIDES)
    for side in list(pio_sides):
        binary = args.hearth if side.startswith("hearth") else args.qemu
        reason = benchlib.skip_reason(binary, needs_kvm=side.startswith("hearth") or args.qemu_accel == "kvm")
        if not reason and side.startswith("qemu"):
            helptext = subprocess.run([args.qemu, "-help"], capture_output=True, text=True).stdout
            if "-sandbox" not in helptext:
                reason = "this QEMU was built without seccomp support (no -sandbox in -help)"
        if reason:
            skipped[side] = reason
            pio_sides.remove(side)
    if jail_sides:
        reason = benchlib.skip_reason(args.hearth, needs_kvm=False) or jail_skip_reason(args)
        if reason:
            skipped.update({s: reason for s in jail_sides})
            jail_sides = []
        elif cpu_v1_mount() is None:
            skipped["jailer pid-ns+cgroup"] = "no cgroup v1 cpu hierarchy (cgroup v2 is not tried by this bench)"
            jail_sides.remove("jailer pid-ns+cgroup")
    for side, reason in skipped.items():
        print(f"skipping {side}: {reason}")
    if not pio_sides and not jail_sides:
        print("nothing to run")
        return 1

    # With --new-pid-ns the jailer exits and leaves hearth behind: be its parent, so it can be reaped.
    libc = ctypes.CDLL(None, use_errno=True)
    if jail_sides and libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("cannot become a child subreaper; skipping jailer pid-ns+cgroup")
        skipped["jailer pid-ns+cgroup"] = "prctl(PR_SET_CHILD_SUBREAPER) failed"
        jail_sides = [s for s in jail_sides if s != "jailer pid-ns+cgroup"]

    cpu = cpu_v1_mount()
    cg_parent = os.path.join(cpu, "hearth") if cpu else None
    cg_parent_existed = bool(cg_parent) and os.path.isdir(cg_parent)
    results = {s: [] for s in pio_sides + jail_sides}
    load_before = os.getloadavg()
    made_base = args.chroot_base_dir is None
    if made_base:
        args.chroot_base_dir = tempfile.mkdtemp(prefix="seccomp-bench-jails-",
                                                dir=os.path.dirname(os.path.abspath(args.hearth)))
    placement = None
    if jail_sides:
        same_fs = os.stat(args.chroot_base_dir).st_dev == os.stat(args.hearth).st_dev
        placement = "hard link" if same_fs else "copy (the base dir is on another file system)"
        print(f"jails under {args.chroot_base_dir}; the jailer places hearth by {placement}")
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-seccomp-bench-") as tmp:
            for i in range(args.runs):
                for side in pio_sides:
                    r = pio_run(side, args, tmp)
                    results[side].append(r)
                    print(f"  run {i + 1} {side}: " + (f"{r['ns_per_exit']} ns/exit, filtered threads "
                          f"{r['filtered_threads']}/{r['threads']}" if r["ok"] else f"FAILED: {r['error']}"),
                          flush=True)
                    if not r["ok"]:
                        benchlib.print_run_tails(r)
                for side in jail_sides:
                    r = jail_run(side, args, tmp, f"sb-{os.getpid()}-{i}-{jail_sides.index(side)}")
                    results[side].append(r)
                    print(f"  run {i + 1} {side}: " + (f"ready {r['ready_ms']} ms, exec {r['exec_ms']} ms"
                          if r["ok"] else f"FAILED: {r['error']}") +
                          (f"; LEFT BEHIND: {r['cleanup']}" if r["cleanup"] else ""), flush=True)
                    if not r["ok"] and r["stderr_tail"].strip():
                        print("    stderr: " + r["stderr_tail"].strip().replace("\n", "\n            "))
    finally:
        if made_base:
            shutil.rmtree(args.chroot_base_dir, ignore_errors=True)
        if cg_parent and not cg_parent_existed and os.path.isdir(cg_parent):
            try:
                os.rmdir(cg_parent)
            except OSError:
                pass  # another jail (someone else's) is in it
    load_after = os.getloadavg()

    if pio_sides or any(s in skipped for s in PIO_SIDES):
        print_side_table(f"PIO round trip: testguest.run=pio-rate testguest.pio_count={args.count}, {args.mem_mib} MiB, "
                         f"{args.runs} runs", results, PIO_SIDES, PIO_ROWS, skipped)
        hearth_cost = filter_cost(results, "hearth", "hearth --no-seccomp")
        qemu_cost = filter_cost(results, "qemu -sandbox on", "qemu -sandbox off")
        print(f"  filter cost per exit (median on - median off): hearth {hearth_cost} ns, qemu {qemu_cost} ns")
    if jail_sides or any(s in skipped for s in JAIL_SIDES):
        print_side_table(f"Jailing: exec -> API socket, {args.runs} runs", results, JAIL_SIDES, JAIL_ROWS, skipped)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    summary = {s: {key: benchlib.summarize_p90(v) for key, _, _ in PIO_ROWS + JAIL_ROWS if (v := values(runs, key))}
               for s, runs in results.items()}
    benchlib.write_report(args.out, {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg_before": load_before,
                 "loadavg_after": load_after},
        "hearth": os.path.abspath(args.hearth), "jailer": os.path.abspath(args.jailer),
        "guest": os.path.abspath(args.guest), "count": args.count, "mem_mib": args.mem_mib, "runs": args.runs,
        "exec_file_placement": placement,
        "filter_cost_ns": {"hearth": filter_cost(results, "hearth", "hearth --no-seccomp"),
                           "qemu": filter_cost(results, "qemu -sandbox on", "qemu -sandbox off")},
        "summary": summary, "results": results, "skipped": skipped})
    failed = any(not r["ok"] or r.get("cleanup") for runs in results.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
