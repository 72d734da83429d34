#!/usr/bin/env python3
"""virtio-rng: Hearth vs QEMU microvm, side by side, on the test guest's rng-rate self-test.

Each run boots the guest, which reads 2048 bytes of entropy in requests of --req bytes and prints
"rng-rate: ... us=<elapsed> bytes_per_s=<rate>". Reported: the guest-measured rate, the run's wall time
and the VMM process's CPU time. With --limit-bps both VMMs throttle the device to that many bytes per
second (Hearth: entropy.rate_limiter.bandwidth; QEMU: virtio-rng-device max-bytes/period), which shows
how closely each keeps to a limit.
"""

import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time

import benchlib

RATE = re.compile(rb"rng-rate: bytes=(\d+) .*us=(\d+) bytes_per_s=(\d+)")
METRICS = [("bytes_per_s", "guest-measured rate (bytes/s)", 0), ("wall_s", "wall time per run (s)", 2),
           ("cpu_s", "VMM CPU per run (s)", 3)]


def hearth_argv(args, config_path):
    entropy = {}
    if args.limit_bps:
        entropy["rate_limiter"] = {"bandwidth": {"size": args.limit_bps, "refill_time": 1000}}
    config = {"boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args},
              "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, "entropy": entropy}
    with open(config_path, "w") as f:
        json.dump(config, f)
    return [args.hearth, "--config-file", config_path, "--no-api"]


def qemu_argv(args):
    rng = "virtio-rng-device,rng=r0"
    if args.limit_bps:
        rng += f",max-bytes={args.limit_bps},period=1000"
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=off", "-cpu", "qemu64,-cx16", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", "64",
            "-global", "virtio-mmio.force-legacy=false", "-object", "rng-random,id=r0,filename=/dev/urandom",
            "-device", rng, "-kernel", args.guest, "-append", args.boot_args]


def measure(argv, timeout_s):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
        out, rc, timed_out = p.stdout, p.returncode, False
    except subprocess.TimeoutExpired as e:
        out, rc, timed_out = e.stdout or b"", None, True
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = RATE.search(out)
    ok = not timed_out and m is not None and b"TESTGUEST PASS" in out
    return {"ok": ok, "rc": rc, "timed_out": timed_out, "wall_s": round(wall, 3),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 4),
            "bytes_per_s": int(m.group(3)) if m else None, "guest_us": int(m.group(2)) if m else None,
            "stdout_tail": out[-2000:].decode(errors="replace"), "stderr_tail": ""}


def main():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("-n", "--iterations", type=int, default=3)
    p.add_argument("--req", type=int, default=512, help="bytes per request (testguest.rng_req, 1..4096)")
    p.add_argument("--limit-bps", type=int, default=0, help="rate limit in bytes/s (0: none)")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--only", action="append", choices=["hearth", "qemu"])
    p.add_argument("--out", default="bench/out/rng.json")
    args = p.parse_args()
    benchlib.check_guest(p, args)
    args.boot_args = f"console=ttyS0 testguest.run=rng-rate testguest.rng_req={args.req}"
    sides = [s for s in ("hearth", "qemu") if not args.only or s in args.only]
    results, skipped = {}, {}
    with tempfile.TemporaryDirectory(prefix="hearth-rng-bench-") as tmp:
        argvs = {}
        for side in sides:
            binary = args.hearth if side == "hearth" else args.qemu
            reason = benchlib.skip_reason(binary, needs_kvm=side == "hearth" or args.qemu_accel == "kvm")
            if reason:
                print(f"skipping {side}: {reason}")
                skipped[side] = reason
                continue
            argvs[side] = hearth_argv(args, os.path.join(tmp, "vm.json")) if side == "hearth" else qemu_argv(args)
            print(f"{side}: {' '.join(argvs[side])}")
            results[side] = {"argv": argvs[side], "runs": []}
        for i in range(args.iterations):  # interleaved, so host load hits both sides alike
            for side, argv in argvs.items():
                r = measure(argv, args.timeout)
                results[side]["runs"].append(r)
                state = f"{r['bytes_per_s']} bytes/s, wall {r['wall_s']} s, CPU {r['cpu_s']} s" if r["ok"] else "FAILED"
                print(f"  {side} run {i + 1}: {state}", flush=True)
                if not r["ok"]:
                    benchlib.print_run_tails(r)
    for side in results:
        results[side]["summary"] = {k: benchlib.summarize_runs(results[side]["runs"], k, 3) for k, _, _ in METRICS}
    print(f"\nguest: {args.boot_args}; limit {args.limit_bps or 'none'} bytes/s; {args.iterations} runs per side")
    benchlib.print_runs_table(results, sides, METRICS)
    benchlib.write_report(args.out, {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "boot_args": args.boot_args, "limit_bps": args.limit_bps, "results": results, "skipped": skipped})
    return 0 if all(r["ok"] for s in results.values() for r in s["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
