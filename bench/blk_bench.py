#!/usr/bin/env python3
"""Block I/O benchmark: the test guest's `blk-bench` on Hearth (Sync, Async) and QEMU microvm.

The guest reads the whole drive with 128 KiB requests, then does N random 4 KiB reads, and prints
  BLK BENCH seq_bytes=<n> seq_us=<t> seq_mb_s=<x> rand_ops=<n> rand_us=<t> rand_iops=<y>
The drive is a page-cached host file, so this measures the VMM's virtio-blk path, not the disk.
Per run it also takes the VMM process's host CPU time (wait4 rusage) and divides it by the bytes moved.
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
CLK_TCK = os.sysconf("SC_CLK_TCK")
THREAD_SAMPLE_S = 0.010
BENCH_RE = re.compile(rb"BLK BENCH seq_bytes=(\d+) seq_us=(\d+) seq_mb_s=([\d.]+) rand_ops=(\d+) "
                      rb"rand_us=(\d+) rand_iops=(\d+)")
FAIL_RE = re.compile(rb"TESTGUEST FAIL[^\r\n]*")


def make_image(path, size_mib):
    """Writes non-zero, non-repeating-per-MiB data (no holes, nothing a VMM could skip) and keeps it cached."""
    block = bytearray(os.urandom(MIB))
    with open(path, "wb") as f:
        for i in range(size_mib):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)
        f.flush()
        os.fsync(f.fileno())  # clean pages stay cached; dirty ones would be written back mid-run
    with open(path, "rb") as f:  # read once: every page is now in the page cache
        while f.read(8 * MIB):
            pass


def hearth_argv(args, engine, image, config_path):
    config = {
        "boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": args.mem_mib},
        "drives": [{"drive_id": "bench", "path_on_host": image, "is_root_device": False,
                    "is_read_only": True, "io_engine": engine}],
    }
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    return [args.hearth, "--config-file", config_path, "--no-api"]


def qemu_argv(args, image):
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=off", "-cpu", "qemu64,-cx16",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", str(args.mem_mib), "-global", "virtio-mmio.force-legacy=false",
            "-drive", f"id=d0,file={image},format=raw,if=none,readonly=on,cache=writeback,aio=threads",
            "-device", "virtio-blk-device,drive=d0", "-kernel", args.guest, "-append", args.boot_args]


def proc_stat_ticks(pid):
    """(utime, stime, guest_time) in clock ticks from /proc/<pid>/stat, or None. Readable while a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # After "pid (comm)": field 3 is fields[0]; utime=14, stime=15, guest_time=43.
    return int(fields[11]), int(fields[12]), int(fields[40])


def threads_cpu_ns(pid):
    """{tid: on-CPU ns} of the live threads, from each task's schedstat (ns, unlike stat's ticks)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
            pass
    return out


def run_once(argv, timeout_s):
    """Runs one VM to completion; returns its output, wall time, CPU time and per-thread CPU."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, close_fds=True)
    pidfd = os.pidfd_open(proc.pid)
    out, err = bytearray(), bytearray()
    streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    exited = timed_out = False
    deadline = t0 + timeout_s
    thread_ns = {}  # last sample of each thread; threads only grow, so the last is the largest
    next_sample = t0
    while not exited or streams:
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            proc.kill()
            break
        if now >= next_sample and not exited:
            thread_ns.update(threads_cpu_ns(proc.pid))
            next_sample = now + THREAD_SAMPLE_S
        wait_s = min(deadline, next_sample if not exited else deadline) - time.monotonic()
        for fd, _ in poller.poll(max(0.0, wait_s) * 1000):
            if fd == pidfd:
                exited = True
                poller.unregister(pidfd)
                continue
            chunk = os.read(fd, 65536)
            if chunk:
                streams[fd] += chunk
            else:
                poller.unregister(fd)
                del streams[fd]
    t_exit = time.monotonic()
    # Exited but not reaped yet: /proc still has the final totals, including the guest time.
    ticks = proc_stat_ticks(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.close(pidfd)
    proc.stdout.close()
    proc.stderr.close()
    return {"rc": proc.returncode, "timed_out": timed_out, "wall_s": t_exit - t0, "stdout": bytes(out),
            "stderr": bytes(err), "usage": usage, "ticks": ticks, "thread_ns": thread_ns}


def measure(argv, args):
    r = run_once(argv, args.timeout)
    bench = BENCH_RE.search(r["stdout"])
    fail = FAIL_RE.search(r["stdout"])
    passed = b"TESTGUEST PASS" in r["stdout"]
    cpu_s = r["usage"].ru_utime + r["usage"].ru_stime
    res = {
        "ok": bool(bench) and passed and r["rc"] == 0 and not r["timed_out"],
        "rc": r["rc"], "timed_out": r["timed_out"],
        "wall_s": round(r["wall_s"], 3),
        "user_s": round(r["usage"].ru_utime, 3), "sys_s": round(r["usage"].ru_stime, 3),
        "cpu_s": round(cpu_s, 3),
        "guest_s": None if r["ticks"] is None else round(r["ticks"][2] / CLK_TCK, 3),
        # The guest polls for completions, so its one vCPU thread is the busiest from boot to exit.
        "vcpu_thread_s": round(max(r["thread_ns"].values()) / 1e9, 3) if r["thread_ns"] else None,
        "threads_seen": len(r["thread_ns"]),
        "fail_line": fail.group(0).decode(errors="replace") if fail else None,
        "stdout_tail": r["stdout"][-600:].decode(errors="replace"),
        "stderr_tail": r["stderr"][-600:].decode(errors="replace"),
    }
    if bench:
        seq_bytes, seq_us, seq_mb_s, rand_ops, rand_us, rand_iops = bench.groups()
        res.update({"seq_bytes": int(seq_bytes), "seq_us": int(seq_us), "seq_mb_s": float(seq_mb_s),
                    "rand_ops": int(rand_ops), "rand_us": int(rand_us), "rand_iops": int(rand_iops)})
        moved_gb = (res["seq_bytes"] + res["rand_ops"] * 4096) / 1e9
        res["moved_gb"] = round(moved_gb, 4)
        res["cpu_s_per_gb"] = round(cpu_s / moved_gb, 3) if moved_gb else None
        if res["vcpu_thread_s"] is not None and moved_gb:
            res["other_cpu_s"] = round(max(0.0, cpu_s - res["vcpu_thread_s"]), 3)
            res["other_cpu_s_per_gb"] = round(res["other_cpu_s"] / moved_gb, 3)
    return res


# (key, label, digits shown in the table)
METRICS = [("seq_mb_s", "seq read (MB/s)", 1), ("rand_iops", "rand 4K read (IOPS)", 0),
           ("cpu_s_per_gb", "VMM CPU user+sys (s/GB)", 2),
           ("other_cpu_s_per_gb", "  without the vCPU thread (s/GB)", 2),
           ("wall_s", "run wall time (s)", 2), ("cpu_s", "VMM CPU user+sys (s)", 2),
           ("vcpu_thread_s", "  vCPU thread (s)", 2), ("other_cpu_s", "  other threads (s)", 2)]


def parse_args():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("-n", "--iterations", type=int, default=3)
    p.add_argument("--image-mib", type=int, default=256, help="size of the drive image")
    p.add_argument("--mem-mib", type=int, default=256)
    p.add_argument("--ops", type=int, default=20000, help="random 4 KiB reads (testguest.bench_ops)")
    p.add_argument("--extra-args", default="", help="more guest boot args, e.g. testguest.bench_qd=8")
    p.add_argument("--dir", help="where to create the image (default: a temp dir under $TMPDIR)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed")
    p.add_argument("--only", action="append", choices=["hearth-sync", "hearth-async", "qemu"],
                   help="run only this side (repeatable)")
    p.add_argument("--out", default="bench/out/blk.json")
    args = p.parse_args()
    if args.iterations < 1 or args.image_mib < 1 or args.ops < 0:
        p.error("--iterations and --image-mib must be at least 1, --ops at least 0")
    benchlib.check_guest(p, args)
    args.boot_args = f"console=ttyS0 testguest.run=blk-bench testguest.bench_ops={args.ops}"
    if args.extra_args:
        args.boot_args += " " + args.extra_args
    return args


def main():
    args = parse_args()
    sides = [s for s in ("hearth-sync", "hearth-async", "qemu") if not args.only or s in args.only]
    results, skipped = {}, {}
    guest_lacks_bench = False
    with tempfile.TemporaryDirectory(prefix="hearth-blk-bench-", dir=args.dir) as tmp:
        image = os.path.join(tmp, "bench.img")
        print(f"writing {args.image_mib} MiB image {image}", flush=True)
        make_image(image, args.image_mib)
        argvs = {}
        for side in sides:
            if side.startswith("hearth"):
                reason = benchlib.skip_reason(args.hearth, needs_kvm=True)
                engine = "Async" if side == "hearth-async" else "Sync"
                if not reason:
                    argvs[side] = hearth_argv(args, engine, image, os.path.join(tmp, f"{side}.json"))
            else:
                reason = benchlib.skip_reason(args.qemu, needs_kvm=args.qemu_accel == "kvm")
                if not reason:
                    argvs[side] = qemu_argv(args, image)
            if reason:
                print(f"skipping {side}: {reason}")
                skipped[side] = reason
            else:
                print(f"{side}: {' '.join(argvs[side])}")
                results[side] = {"argv": argvs[side], "runs": []}
        # Interleaved, so that a change in the host's load hits every side alike.
        for i in range(args.iterations):
            for side in argvs:
                r = measure(argvs[side], args)
                results[side]["runs"].append(r)
                if r["ok"]:
                    print(f"  {side} run {i + 1}: seq {r['seq_mb_s']} MB/s, rand {r['rand_iops']} IOPS, "
                          f"CPU {r['cpu_s']} s (vCPU thread {r['vcpu_thread_s']} s), wall {r['wall_s']} s", flush=True)
                    continue
                status = "TIMEOUT" if r["timed_out"] else f"FAILED rc={r['rc']}"
                print(f"  {side} run {i + 1}: {status} {r['fail_line'] or ''}")
                benchlib.print_run_tails(r)
                if r["fail_line"] and "unknown test" in r["fail_line"]:
                    guest_lacks_bench = True
            if guest_lacks_bench:
                break
    for side in results:
        results[side]["summary"] = {key: benchlib.summarize_runs(results[side]["runs"], key, digits=3)
                                  for key, _, _ in METRICS}

    print()
    print(f"guest: {args.boot_args}; {args.image_mib} MiB page-cached image; {args.iterations} runs per side")
    benchlib.print_runs_table(results, sides, METRICS)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "loadavg": os.getloadavg()},
        "guest": os.path.abspath(args.guest), "boot_args": args.boot_args, "image_mib": args.image_mib,
        "mem_mib": args.mem_mib, "iterations": args.iterations, "results": results, "skipped": skipped,
    }
    benchlib.write_report(args.out, report)
    if guest_lacks_bench:
        print(f"\nERROR: the guest '{args.guest}' has no blk-bench self-test (it printed 'TESTGUEST FAIL "
              "unknown test'); rebuild it with: cmake --build build --target testguest", file=sys.stderr)
        return 2
    if not results:
        print("nothing was measured: every side was skipped", file=sys.stderr)
        return 1
    failed = any(not r["ok"] for side in results.values() for r in side["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
