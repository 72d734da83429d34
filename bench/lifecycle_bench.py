#!/usr/bin/env python3
"""Lifecycle benchmark: start-up, teardown, CPU, footprint and churn, Hearth vs QEMU microvm.

Same test guest (`testguest.run=boot`, which ends by resetting the machine), 1 vCPU, for each memory
size (default 128, 1024, 4096 MiB), Hearth and QEMU runs interleaved. Modes (all by default):
  lifecycle  Hearth --no-api / QEMU without QMP: fork/exec -> first KVM_RUN (ftrace, when available),
             -> first guest byte on stdout, -> `TESTGUEST PASS` line, that line -> process exit (pidfd),
             user/sys CPU from wait4's rusage.
  api        the same with Hearth --api-sock / QEMU -qmp unix:...: fork/exec -> connect() succeeds.
  memory     --mem-runs runs with testguest.hold_ms: /proc/<pid>/status and smaps sampled while the guest
             holds; peak VmHWM, RssAnon, RssFile, RssShmem, guest-RAM RSS.
  sequence   Hearth --api-sock: the Firecracker getting-started calls (boot-source, machine-config,
             drives/rootfs on a sparse file, InstanceStart), each timed, socket ready -> InstanceStart.
  churn      128 MiB lifecycles back to back for --churn-s seconds, 1 and 2 concurrent streams.
The "floor" side (lifecycle and churn modes) is hearth-kvm-floor-probe (bench/kvm_floor_probe.cpp): the same
KVM set-up as a VMM with an 8-byte guest and nothing else, the host's own cost of one lifecycle.
See bench/README.md. Python 3 standard library only, Linux only.
"""

import datetime
import json
import os
import platform
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import api_bench  # siblings: Python puts the script's own folder on sys.path
import benchlib
import boot_bench

MIB = 1024 * 1024
PASS = "TESTGUEST PASS"
MEM_SAMPLE_S = 0.005
KVM_RUN = 0xAE80
KVM_CREATE_VM = 0xAE01
TRACEFS = "/sys/kernel/tracing"
TRACE_LINE_RE = re.compile(r"^\s*.+?-(\d+)\s+\(\s*(\d+)\)\s+\[\d+\]\s+\S+\s+(\d+\.\d+): (\w+)(?:: |\()(.*)$")
STATUS_FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")


class Ftrace:
    """A private tracefs instance recording, on CLOCK_MONOTONIC (the clock of time.monotonic()), exec,
    KVM_CREATE_VM / KVM_RUN ioctl entries and KVM guest entries: kernel timestamps of the child's first
    KVM_RUN without strace's per-syscall stops. None-safe: unavailable without root and tracefs."""

    def __init__(self):
        self.path = os.path.join(TRACEFS, "instances", f"lifecycle_bench_{os.getpid()}")
        os.mkdir(self.path)
        try:
            self._write("trace_clock", "mono")
            self._write("options/record-tgid", "1")
            self._write("buffer_size_kb", "8192")
            self._write("events/syscalls/sys_enter_ioctl/filter",
                        f"cmd == {KVM_RUN:#x} || cmd == {KVM_CREATE_VM:#x}")
            self._write("events/syscalls/sys_enter_ioctl/enable", "1")
            self._write("events/sched/sched_process_exec/enable", "1")
            if os.path.exists(os.path.join(self.path, "events/kvm/kvm_entry")):
                self._write("events/kvm/kvm_entry/enable", "1")
        except OSError:
            self.close()
            raise

    @staticmethod
    def open():
        if not os.path.isdir(os.path.join(TRACEFS, "instances")):
            return None
        try:
            return Ftrace()
        except OSError:
            return None

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def clear(self):
        self._write("trace", "")

    def first_times(self, tgid):
        """{event: first monotonic timestamp} for process tgid since the last clear()."""
        with open(os.path.join(self.path, "trace")) as f:
            text = f.read()
        first = {}
        for line in text.splitlines():
            m = TRACE_LINE_RE.match(line)
            if not m or int(m.group(2)) != tgid and int(m.group(1)) != tgid:
                continue
            event, rest, ts = m.group(4), m.group(5), float(m.group(3))
            if event == "sys_ioctl":
                cmd = int(re.search(r"cmd: (0x[0-9a-f]+)", rest).group(1), 16)
                event = {KVM_RUN: "kvm_run", KVM_CREATE_VM: "kvm_create_vm"}.get(cmd, event)
            first.setdefault(event, ts)
        return first

    def close(self):
        try:
            self._write("tracing_on", "0")
            for ev in ("syscalls/sys_enter_ioctl", "sched/sched_process_exec", "kvm/kvm_entry"):
                if os.path.exists(os.path.join(self.path, "events", ev)):
                    self._write(f"events/{ev}/enable", "0")
        finally:
            os.rmdir(self.path)


# --- argv ----------------------------------------------------------------------------------------

def hearth_argv(args, tmp, mem_mib, boot_args, api_sock=None):
    config = {
        "boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": boot_args},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": mem_mib},
    }
    path = os.path.join(tmp, f"vm-{mem_mib}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return [args.hearth, "--config-file", path] + (["--api-sock", api_sock] if api_sock else ["--no-api"])


def qemu_argv(args, tmp, mem_mib, boot_args, api_sock=None):
    qmp = ["-qmp", f"unix:{api_sock},server=on,wait=off"] if api_sock else []
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=on", "-cpu", "qemu64,-cx16",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", str(mem_mib), "-smp", "1", "-kernel", args.guest, "-append", boot_args] + qmp


def floor_argv(args, tmp, mem_mib, boot_args, api_sock=None):
    return [args.floor, "--mem-mib", str(mem_mib)]


ARGV = {"hearth": hearth_argv, "qemu": qemu_argv, "floor": floor_argv}


# --- one lifecycle -------------------------------------------------------------------------------

def lifecycle_run(argv, mem_mib, timeout_s, tmp, api_sock=None, sample_mem=False, ftrace=None):
    """Runs one VM to its exit; times in ms from just before fork/exec, CPU in ms, memory in MiB."""
    if api_sock and os.path.exists(api_sock):
        os.unlink(api_sock)
    if ftrace:
        ftrace.clear()
    read_fd, write_fd = os.pipe()
    err_path = os.path.join(tmp, "stderr")
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=err, close_fds=True)
    os.close(write_fd)
    pidfd = os.pidfd_open(proc.pid)
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    t_first = t_pass = t_exit = t_api = None
    output = bytearray()
    peak = {}
    timed_out = False
    deadline = t0 + timeout_s
    next_sample = t0
    try:
        while t_exit is None:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                proc.kill()
                break
            if api_sock and t_api is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(api_sock)
                    t_api = time.monotonic()
                except (FileNotFoundError, ConnectionRefusedError):
                    pass
                finally:
                    sock.close()  # at once: an open client must not change the teardown being timed
            if sample_mem and now >= next_sample:
                sample_memory(proc.pid, mem_mib, peak)
                next_sample = now + MEM_SAMPLE_S
            wait_ms = api_bench.CONNECT_POLL_S * 1000 if api_sock and t_api is None else \
                (MEM_SAMPLE_S * 1000 if sample_mem else max(0.0, deadline - now) * 1000)
            for fd, _ in poller.poll(wait_ms):
                if fd == pidfd:
                    t_exit = time.monotonic()
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    continue
                if t_first is None:
                    t_first = time.monotonic()
                output += chunk
                if t_pass is None and PASS.encode() in output:
                    t_pass = time.monotonic()
    finally:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        # Output still in the pipe after exit (a fast teardown) still counts for the PASS check.
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            output += chunk
        os.close(read_fd)
    if t_pass is None and PASS.encode() in output:
        t_pass = t_exit  # arrived with the exit: reset -> exit below 1 poll round

    def ms(t, ref=t0):
        return None if t is None or ref is None else round((t - ref) * 1000, 2)

    r = {
        "ok": not timed_out and proc.returncode == 0 and t_pass is not None,
        "rc": proc.returncode, "timed_out": timed_out,
        "first_byte_ms": ms(t_first), "pass_ms": ms(t_pass), "exit_ms": ms(t_exit),
        "reset_to_exit_ms": ms(t_exit, t_pass),
        "user_ms": round(usage.ru_utime * 1000, 2), "sys_ms": round(usage.ru_stime * 1000, 2),
        "cpu_ms": round((usage.ru_utime + usage.ru_stime) * 1000, 2),
        "maxrss_mib": round(usage.ru_maxrss / 1024, 2),
    }
    if api_sock:
        r["api_ready_ms"] = ms(t_api)
    if ftrace:
        first = ftrace.first_times(proc.pid)
        r["exec_ms"] = ms(first.get("sched_process_exec"))
        r["create_vm_ms"] = ms(first.get("kvm_create_vm"))
        r["first_kvm_run_ms"] = ms(first.get("kvm_run"))
        r["first_kvm_entry_ms"] = ms(first.get("kvm_entry"))
    if sample_mem:
        hwm = peak.get("VmHWM")
        ram = peak.get("guest_ram", 0)
        r.update({
            "samples": peak.get("samples", 0),
            "peak_rss_mib": None if hwm is None else round(hwm / 1024, 2),
            "guest_ram_rss_mib": round(ram / 1024, 2),
            "overhead_mib": None if hwm is None else round((hwm - ram) / 1024, 2),
            "rss_file_mib": round(peak.get("RssFile", 0) / 1024, 2),
            "rss_anon_mib": round(peak.get("RssAnon", 0) / 1024, 2),
            "rss_shmem_mib": round(peak.get("RssShmem", 0) / 1024, 2),
            "anon_shmem_overhead_mib": round(peak.get("anon_overhead", 0) / 1024, 2),
        })
    if not r["ok"]:
        with open(err_path, "rb") as f:
            r["stderr_tail"] = f.read()[-400:].decode(errors="replace")
        r["stdout_tail"] = output[-400:].decode(errors="replace")
    return r


def guest_ram_rss_kib(pid, mem_bytes):
    """Summed Rss (KiB) of the anonymous mappings between 32 MiB and the guest size + 2 MiB: QEMU's one RAM
    block; Hearth's low RAM, and above 3.25 GiB (layout::kMmioGapStart) also its high-RAM mapping, which
    boot_bench's single-size match would miss. None if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    total, matching = 0, False
    for line in text.splitlines():
        header = boot_bench.SMAPS_HEADER_RE.match(line)
        if header:
            size = int(header.group(2), 16) - int(header.group(1), 16)
            matching = (32 * MIB <= size <= mem_bytes + 2 * MIB
                        and boot_bench.ANON_PATH_RE.match(header.group(3).strip()) is not None)
        elif matching and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def sample_memory(pid, mem_mib, peak):
    """Folds one /proc sample into peak: max of each status field, of the guest-RAM mapping's Rss, and of
    RssAnon + RssShmem - guest RAM taken from the same sample."""
    fields = benchlib.proc_status_fields_kib(pid, STATUS_FIELDS)
    ram = guest_ram_rss_kib(pid, mem_mib * MIB)
    if not fields or ram is None or "RssAnon" not in fields:
        return
    peak["samples"] = peak.get("samples", 0) + 1
    for k, v in fields.items():
        peak[k] = max(peak.get(k, 0), v)
    peak["guest_ram"] = max(peak.get("guest_ram", 0), ram)
    peak["anon_overhead"] = max(peak.get("anon_overhead", 0), fields["RssAnon"] + fields.get("RssShmem", 0) - ram)


# --- the Firecracker getting-started sequence ----------------------------------------------------

def sequence_run(args, tmp, mem_mib, drive_path):
    """hearth --api-sock; socket ready, then the four PUTs, each timed (ms); the VM then runs to its exit."""
    sock_path = os.path.join(tmp, "seq.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    calls = [
        ("boot_source_ms", "PUT", "/boot-source",
         {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args}, 204),
        ("machine_config_ms", "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem_mib}, 204),
        ("drive_ms", "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": drive_path,
                                               "is_root_device": True, "is_read_only": False}, 204),
        ("instance_start_ms", "PUT", "/actions", {"action_type": "InstanceStart"}, 204),
    ]
    err = open(os.path.join(tmp, "seq.err"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([args.hearth, "--api-sock", sock_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err, close_fds=True)
    err.close()
    r = {"ok": False}
    try:
        conn = api_bench.Conn(api_bench.connect_when_up(sock_path, proc, t0, args.timeout), args.timeout)
        t_ready = time.monotonic()
        r["api_ready_ms"] = round((t_ready - t0) * 1000, 2)
        for key, method, path, body, want in calls:
            t = time.monotonic()
            status, reply = api_bench.http_request(conn, method, path, json.dumps(body).encode())
            r[key] = round((time.monotonic() - t) * 1000, 3)
            if status != want:
                raise api_bench.BenchError(f"{method} {path} returned {status}: {reply[:200]!r}")
        r["ready_to_started_ms"] = round((time.monotonic() - t_ready) * 1000, 2)
        conn.close()
        out, _ = proc.communicate(timeout=args.timeout)
        r["ok"] = proc.returncode == 0 and PASS.encode() in out
        if not r["ok"]:
            r["error"] = f"rc={proc.returncode}, PASS line {'seen' if PASS.encode() in out else 'missing'}"
    except (api_bench.BenchError, OSError, subprocess.TimeoutExpired) as e:
        r["error"] = str(e)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    return r


# --- churn ---------------------------------------------------------------------------------------

def churn(argv, streams, duration_s):
    """streams threads each run lifecycles back to back; counts those that end within duration_s."""
    t_end = time.monotonic() + duration_s
    done, failed = [0] * streams, [0] * streams

    def stream(i):
        while time.monotonic() < t_end:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, close_fds=True)
            good = p.returncode == 0 and PASS.encode() in p.stdout
            if time.monotonic() <= t_end:
                if good:
                    done[i] += 1
                else:
                    failed[i] += 1

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"streams": streams, "duration_s": duration_s, "completed": sum(done), "failed": sum(failed),
            "per_s": round(sum(done) / duration_s, 2)}


# --- driver --------------------------------------------------------------------------------------

LIFECYCLE_METRICS = [
    ("exec_ms", "fork -> exec (ms, ftrace)", 2),
    ("create_vm_ms", "-> KVM_CREATE_VM (ms, ftrace)", 1),
    ("first_kvm_run_ms", "-> first KVM_RUN (ms, ftrace)", 1),
    ("first_kvm_entry_ms", "-> first guest entry (ms, ftrace kvm_entry)", 1),
    ("first_byte_ms", "-> first guest byte (ms)", 1),
    ("pass_ms", "-> PASS line (ms)", 1),
    ("exit_ms", "-> exit (ms)", 1),
    ("reset_to_exit_ms", "PASS line -> exit (ms)", 2),
    ("user_ms", "CPU user (ms)", 1),
    ("sys_ms", "CPU sys (ms)", 1),
    ("maxrss_mib", "ru_maxrss (MiB)", 1),
]
API_METRICS = [("api_ready_ms", "-> socket connect() ok (ms)", 2), ("exit_ms", "-> exit, with socket (ms)", 1),
               ("reset_to_exit_ms", "PASS line -> exit, with socket (ms)", 2)]
MEM_METRICS = [("peak_rss_mib", "VmHWM (MiB)", 2), ("guest_ram_rss_mib", "guest RAM RSS (MiB)", 2),
               ("overhead_mib", "VmHWM - guest RAM (MiB)", 2), ("rss_file_mib", "RssFile (MiB)", 2),
               ("rss_anon_mib", "RssAnon (MiB)", 2), ("rss_shmem_mib", "RssShmem (MiB)", 2),
               ("anon_shmem_overhead_mib", "RssAnon+RssShmem - guest RAM (MiB)", 2)]
SEQ_METRICS = [("api_ready_ms", "fork -> socket ready (ms)", 2), ("boot_source_ms", "PUT /boot-source (ms)", 3),
               ("machine_config_ms", "PUT /machine-config (ms)", 3), ("drive_ms", "PUT /drives/rootfs (ms)", 3),
               ("instance_start_ms", "PUT /actions InstanceStart (ms)", 2),
               ("ready_to_started_ms", "socket ready -> InstanceStart answered (ms)", 2)]


def parse_args():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("--runs", type=int, default=30, help="lifecycle and api runs per side and size")
    p.add_argument("--mem-runs", type=int, default=5, help="memory-sampling runs per side and size")
    p.add_argument("--mem-sizes", default="128,1024,4096", help="guest sizes in MiB, comma-separated")
    p.add_argument("--boot-args", default="console=ttyS0 testguest.run=boot")
    p.add_argument("--hold-ms", type=int, default=300, help="testguest.hold_ms of the memory runs")
    p.add_argument("--churn-s", type=float, default=10.0, help="seconds per churn measurement")
    p.add_argument("--churn-streams", default="1,2", help="concurrent streams, comma-separated")
    p.add_argument("--modes", default="lifecycle,api,memory,sequence,churn")
    p.add_argument("--no-ftrace", action="store_true", help="do not use a tracefs instance for KVM_RUN times")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a run is killed")
    p.add_argument("--only", choices=["hearth", "qemu"], help="run one VMM side only (and the floor)")
    p.add_argument("--floor", help="hearth-kvm-floor-probe (default: next to --hearth); 'none' to skip")
    p.add_argument("--json", "--out", dest="out", default="bench/out/lifecycle.json")
    args = p.parse_args()
    args.sizes = [int(s) for s in args.mem_sizes.split(",")]
    args.streams = [int(s) for s in args.churn_streams.split(",")]
    args.modes = args.modes.split(",")
    unknown = set(args.modes) - {"lifecycle", "api", "memory", "sequence", "churn"}
    if unknown:
        p.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if args.runs < 1 or args.mem_runs < 1 or min(args.sizes) < 4:
        p.error("--runs and --mem-runs must be at least 1, sizes at least 4 MiB")
    benchlib.check_guest(p, args)
    if args.floor is None:
        args.floor = os.path.join(os.path.dirname(args.hearth) or ".", "hearth-kvm-floor-probe")
    return args


def print_section(title, results, columns, metrics, p90=True):
    print(f"\n{title}")
    header = ["metric"] + [f"{side} {mem}M" for side, mem in columns]
    rows = []
    for key, label, digits in metrics:
        cells = []
        for side, mem in columns:
            s = results[side][mem]["summary"].get(key)
            cells.append(benchlib.cell_p90(s, digits) if p90 else benchlib.cell(s, digits))
        if any(c != "-" for c in cells):
            rows.append([label] + cells)
    rows.append(["ok runs"] + [f"{sum(r['ok'] for r in results[s][m]['runs'])}/{len(results[s][m]['runs'])}"
                               for s, m in columns])
    benchlib.print_table(header, rows)


def run_interleaved(args, sides, tmp, n, name, metrics, make, ftrace=None):
    """n rounds of (size x side) runs, interleaved so a change in host load hits every column alike."""
    results = {s: {m: {"runs": []} for m in args.sizes} for s in sides}
    print(f"{name}: {n} rounds", flush=True)
    for i in range(n):
        for mem in args.sizes:
            for side in sides:
                r = make(side, mem)
                results[side][mem]["runs"].append(r)
                if not r["ok"]:
                    print(f"  {name} {side} {mem}M run {i + 1}: FAILED {r}", flush=True)
    for side in sides:
        for mem in args.sizes:
            runs = results[side][mem]["runs"]
            results[side][mem]["summary"] = {
                key: benchlib.summarize_p90([r[key] for r in runs if r["ok"] and r.get(key) is not None])
                for key, _, _ in metrics}
    return results


def main():
    args = parse_args()
    vmm_sides, skipped = benchlib.runnable_sides(args, args.only)
    if not vmm_sides:
        print("nothing to measure: every side was skipped", file=sys.stderr)
        return 1
    sides = list(vmm_sides)  # with the floor, for the modes it applies to
    floor_skip = "--floor none" if args.floor == "none" else benchlib.skip_reason(args.floor, needs_kvm=True)
    if floor_skip:
        print(f"skipping floor: {floor_skip}")
        skipped["floor"] = floor_skip
    else:
        sides.append("floor")
    ftrace = None if args.no_ftrace else Ftrace.open()
    print(f"first KVM_RUN via ftrace: {'yes, ' + ftrace.path if ftrace else 'no (needs root and tracefs)'}")
    columns = [(s, m) for m in args.sizes for s in sides]
    vmm_columns = [(s, m) for m in args.sizes for s in vmm_sides]
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "loadavg_start": os.getloadavg()},
        "guest": os.path.abspath(args.guest), "boot_args": args.boot_args, "sizes_mib": args.sizes,
        "ftrace": ftrace is not None, "skipped": skipped, "modes": {},
    }
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-lifecycle-") as tmp:
            report["argv"] = {s: ARGV[s](args, tmp, args.sizes[0], args.boot_args) for s in sides}
            for s in sides:
                print(f"{s}: {' '.join(report['argv'][s])}")
            if "lifecycle" in args.modes:
                res = run_interleaved(args, sides, tmp, args.runs, "lifecycle", LIFECYCLE_METRICS,
                                      lambda s, m: lifecycle_run(ARGV[s](args, tmp, m, args.boot_args), m,
                                                                 args.timeout, tmp, ftrace=ftrace))
                report["modes"]["lifecycle"] = res
                print_section("lifecycle (--no-api / no QMP): median / p90, times from just before fork/exec",
                              res, columns, LIFECYCLE_METRICS)
            if "api" in args.modes:
                sock = os.path.join(tmp, "api.sock")
                res = run_interleaved(args, vmm_sides, tmp, args.runs, "api", API_METRICS,
                                      lambda s, m: lifecycle_run(ARGV[s](args, tmp, m, args.boot_args, sock), m,
                                                                 args.timeout, tmp, api_sock=sock))
                report["modes"]["api"] = res
                print_section("with the API socket (Hearth --api-sock + config / QEMU -qmp unix:): median / p90",
                              res, vmm_columns, API_METRICS)
            if "memory" in args.modes:
                boot = f"{args.boot_args} testguest.hold_ms={args.hold_ms}"
                res = run_interleaved(args, vmm_sides, tmp, args.mem_runs, "memory", MEM_METRICS,
                                      lambda s, m: lifecycle_run(ARGV[s](args, tmp, m, boot), m, args.timeout,
                                                                 tmp, sample_mem=True))
                report["modes"]["memory"] = res
                print_section(f"memory, peak of samples every {MEM_SAMPLE_S * 1000:.0f} ms over the run "
                              f"(hold_ms={args.hold_ms}): median / p90", res, vmm_columns, MEM_METRICS)
            if "sequence" in args.modes and "hearth" in sides:
                drive = os.path.join(tmp, "rootfs.img")
                with open(drive, "wb") as f:
                    f.truncate(64 * MIB)  # sparse: nothing is read
                res = run_interleaved(args, ["hearth"], tmp, args.runs, "sequence", SEQ_METRICS,
                                      lambda s, m: sequence_run(args, tmp, m, drive))
                report["modes"]["sequence"] = res
                print_section("Firecracker getting-started sequence over the socket: median / p90",
                              res, [("hearth", m) for m in args.sizes], SEQ_METRICS)
            if "churn" in args.modes:
                mem = args.sizes[0]
                churn_res = []
                for streams in args.streams:
                    for side in sides:
                        print(f"churn: {side} {streams} stream(s), {args.churn_s} s", flush=True)
                        c = churn(ARGV[side](args, tmp, mem, args.boot_args), streams, args.churn_s)
                        c.update({"side": side, "mem_mib": mem})
                        churn_res.append(c)
                report["modes"]["churn"] = churn_res
                print(f"\nchurn, {mem} MiB lifecycles back to back ({args.churn_s} s each)")
                benchlib.print_table(["side", "streams", "completed", "failed", "lifecycles/s"],
                                     [[c["side"], c["streams"], c["completed"], c["failed"], c["per_s"]]
                                      for c in churn_res])
                failed |= any(c["failed"] for c in churn_res)
    finally:
        if ftrace:
            ftrace.close()
    report["host"]["loadavg_end"] = os.getloadavg()
    for mode, res in report["modes"].items():
        if mode != "churn":
            failed |= any(not r["ok"] for side in res.values() for m in side.values() for r in m["runs"])
    # JSON keys must be strings; sizes become "128" etc.
    report["modes"] = json.loads(json.dumps(report["modes"]))
    benchlib.write_report(args.out, report)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
