#!/usr/bin/env python3
"""Boot benchmark: Hearth vs QEMU microvm on the same test guest.

For each run it measures
  first_byte_ms  fork/exec -> first byte on the child's stdout (the guest's serial console),
  exit_ms        fork/exec -> process exit,
  overhead_mib   peak RSS (VmHWM) minus the RSS of the guest-RAM mapping(s): what the VMM itself costs.
See bench/README.md. Python 3 standard library only.
"""

import datetime
import json
import os
import platform
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

import benchlib  # bench/benchlib.py: Python puts the script's own folder on sys.path

MIB = 1024 * 1024
SAMPLE_PERIOD_S = 0.020
# Anonymous-memory pathnames in smaps: none, a prctl(PR_SET_VMA_ANON_NAME) label, shared anon, memfd.
ANON_PATH_RE = re.compile(r"^(|\[anon:.*\]|/dev/zero \(deleted\)|/memfd:.* \(deleted\))$")
SMAPS_HEADER_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def guest_ram_rss_kib(pid, mem_bytes, slack_bytes):
    """Summed Rss (KiB) of anonymous mappings whose size is mem_bytes +- slack_bytes; None if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    total = 0
    matching = False
    for line in text.splitlines():
        header = SMAPS_HEADER_RE.match(line)
        if header:
            size = int(header.group(2), 16) - int(header.group(1), 16)
            matching = (abs(size - mem_bytes) <= slack_bytes
                        and ANON_PATH_RE.match(header.group(3).strip()) is not None)
        elif matching and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def run_once(argv, mem_mib, timeout_s, expect):
    """Runs one VM to completion and returns its measurements (times in ms, memory in MiB)."""
    mem_bytes = mem_mib * MIB
    slack = 2 * MIB
    read_fd, write_fd = os.pipe()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=write_fd,
                            stderr=subprocess.PIPE, close_fds=True)
    os.close(write_fd)
    t_first = t_exit = t_expect = None
    output = bytearray()
    stderr_chunks = []
    hwm_kib = 0
    ram_kib = 0
    timed_out = False

    # A pidfd turns readable at exit, so exit is timed exactly rather than at the sampling period.
    pidfd = os.pidfd_open(proc.pid) if hasattr(os, "pidfd_open") else None
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    poller.register(proc.stderr.fileno(), select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    open_fds = {read_fd, proc.stderr.fileno()}
    next_sample = t0
    deadline = t0 + timeout_s
    try:
        while True:
            now = time.monotonic()
            if now >= next_sample:
                hwm = benchlib.proc_status_kib(proc.pid, "VmHWM")  # peak RSS so far
                ram = guest_ram_rss_kib(proc.pid, mem_bytes, slack)
                if hwm is not None:
                    hwm_kib = max(hwm_kib, hwm)
                if ram is not None:
                    ram_kib = max(ram_kib, ram)
                next_sample = now + SAMPLE_PERIOD_S
            if now >= deadline:
                timed_out = True
                proc.kill()
                break
            if pidfd is None and proc.poll() is not None:
                t_exit = time.monotonic()
            if t_exit is not None and not open_fds:
                break
            wait_ms = max(0.0, min(next_sample, deadline) - time.monotonic()) * 1000
            for fd, _ in poller.poll(wait_ms if pidfd is not None else min(wait_ms, 1.0)):
                if fd == pidfd:
                    if t_exit is None:
                        t_exit = time.monotonic()
                    poller.unregister(pidfd)
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                if fd == read_fd:
                    if t_first is None:
                        t_first = time.monotonic()
                    output += chunk
                    if expect and t_expect is None and expect.encode() in output:
                        t_expect = time.monotonic()
                else:
                    stderr_chunks.append(chunk)
    finally:
        rc = proc.wait()
        if t_exit is None:
            t_exit = time.monotonic()
        os.close(read_fd)
        proc.stderr.close()
        if pidfd is not None:
            os.close(pidfd)

    def ms(t):
        return None if t is None else round((t - t0) * 1000, 2)

    ok = (not timed_out and rc == 0 and t_first is not None
          and (not expect or t_expect is not None))
    stderr_text = b"".join(stderr_chunks).decode(errors="replace")
    return {
        "ok": ok,
        "rc": rc,
        "timed_out": timed_out,
        "first_byte_ms": ms(t_first),
        "expect_ms": ms(t_expect),
        "exit_ms": ms(t_exit),
        "peak_rss_mib": round(hwm_kib / 1024, 2),
        "guest_ram_rss_mib": round(ram_kib / 1024, 2),
        "overhead_mib": round((hwm_kib - ram_kib) / 1024, 2) if hwm_kib else None,
        "stdout_tail": output[-400:].decode(errors="replace"),
        "stderr_tail": stderr_text[-400:],
    }


def hearth_argv(args, config_path):
    config = {
        "boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": args.mem_mib},
    }
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    return [args.hearth, "--config-file", config_path, "--no-api"]


def qemu_argv(args):
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=on", "-cpu", "qemu64,-cx16",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", str(args.mem_mib), "-smp", "1", "-kernel", args.guest, "-append", args.boot_args]


# (key, label, digits shown in the table)
METRICS = [("first_byte_ms", "first byte (ms)", 1), ("expect_ms", "PASS line (ms)", 1),
           ("exit_ms", "exit (ms)", 1), ("peak_rss_mib", "peak RSS (MiB)", 1),
           ("guest_ram_rss_mib", "guest RAM RSS (MiB)", 1), ("overhead_mib", "VMM overhead (MiB)", 1)]


def parse_args():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("-n", "--iterations", type=int, default=10)
    p.add_argument("--mem-mib", type=int, default=128)
    p.add_argument("--boot-args", default="console=ttyS0 testguest.run=boot testguest.hold_ms=300")
    p.add_argument("--expect", default="TESTGUEST PASS",
                   help="stdout text a successful run prints ('' accepts any run that exits 0)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a run is killed")
    p.add_argument("--only", choices=["hearth", "qemu"], help="run one side only")
    p.add_argument("--out", default="bench/out/boot.json")
    args = p.parse_args()
    if args.iterations < 1:
        p.error("--iterations must be at least 1")
    if args.mem_mib < 4:
        p.error("--mem-mib must be at least 4 (smaller cannot be told apart from other mappings)")
    benchlib.check_guest(p, args)
    return args


def main():
    args = parse_args()
    sides = [s for s in ("hearth", "qemu") if args.only in (None, s)]
    results, skipped = {}, {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        for side in sides:
            if side == "hearth":
                reason = benchlib.skip_reason(args.hearth, needs_kvm=True)
                argv = None if reason else hearth_argv(args, os.path.join(tmp, "vm.json"))
            else:
                reason = benchlib.skip_reason(args.qemu, needs_kvm=args.qemu_accel == "kvm")
                argv = None if reason else qemu_argv(args)
            if reason:
                print(f"skipping {side}: {reason}")
                skipped[side] = reason
                continue
            print(f"{side}: {args.iterations} runs of: {' '.join(argv)}", flush=True)
            runs = []
            for i in range(args.iterations):
                r = run_once(argv, args.mem_mib, args.timeout, args.expect)
                runs.append(r)
                status = "ok" if r["ok"] else ("TIMEOUT" if r["timed_out"] else f"FAILED rc={r['rc']}")
                print(f"  run {i + 1}: {status} first_byte={r['first_byte_ms']} ms exit={r['exit_ms']} ms "
                      f"overhead={r['overhead_mib']} MiB", flush=True)
                if not r["ok"]:
                    benchlib.print_run_tails(r)
            results[side] = {"argv": argv, "runs": runs,
                             "summary": {key: benchlib.summarize_runs(runs, key) for key, _, _ in METRICS}}

    print()
    benchlib.print_runs_table(results, sides, METRICS)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "guest": os.path.abspath(args.guest),
        "boot_args": args.boot_args,
        "mem_mib": args.mem_mib,
        "iterations": args.iterations,
        "results": results,
        "skipped": skipped,
    }
    benchlib.write_report(args.out, report)
    failed = any(not r["ok"] for side in results.values() for r in side["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
