#!/usr/bin/env python3
"""virtio-net: Hearth vs QEMU microvm (-netdev tap, virtio-net-device), side by side, on the test guest's
net-bench self-test against net_peer.py on the TAP's host side.

Each run creates its own network namespace with tap0 (10.79.0.1/24) and a peer, boots the VMM inside it
and runs one case: guest->host (tx) or host->guest (rx) UDP with --count datagrams of 1472 payload bytes
(1514-byte frames) or 22 bytes (64-byte frames). The guest prints "net-bench: dir=.. count=.. frame=..
us=.. pps=.. kbytes_s=..". Reported per case: packets/s and MB/s as the guest measured them (tx: frames
the guest sent, rx: frames it received), the peer's count for tx, and the VMM process's CPU time per GB
of frames moved (CPU of the whole run, boot included, over count x frame bytes: an upper bound).
Needs root (netns, TAP), /dev/kvm and python3. The namespace is deleted after each run.
"""

import datetime
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import json

import benchlib

LINE = re.compile(rb"net-bench: dir=(tx|rx) count=(\d+) size=(\d+) frame=(\d+) ticks=\d+ us=(\d+) pps=(\d+) "
                  rb"kbytes_s=(\d+)(?: peer_count=(\d+))?")
CASES = [("tx", 1472), ("rx", 1472), ("tx", 22), ("rx", 22)]
METRICS = [("pps", "packets/s (guest-measured)", 0), ("mb_s", "MB/s (guest-measured)", 2),
           ("cpu_per_gb", "VMM CPU s per GB moved", 1), ("wall_s", "wall time per run (s)", 2)]
HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "tests", "guest", "net_peer.py")
MAC = "06:00:0a:4f:00:02"


def host_tsc_khz():
    """The host kernel's TSC rate (dmesg "tsc: Detected N MHz"), or None. The guest's own PIT calibration
    can be off by an order of magnitude under nested emulation, which would skew its rates."""
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"tsc: (?:Refined TSC clocksource calibration|Detected): ([0-9.]+) MHz", log)
    return int(float(m.group(1)) * 1000) if m else None


TSC_KHZ = host_tsc_khz()


def boot_args(direction, size, count):
    tsc = f" testguest.bench_tsc_khz={TSC_KHZ}" if TSC_KHZ else ""
    return (f"console=ttyS0 testguest.run=net-bench testguest.bench_dir={direction} testguest.bench_count={count} "
            f"testguest.bench_size={size} testguest.net_ip=10.79.0.2/24 testguest.net_peer=10.79.0.1:7777{tsc}")


def hearth_argv(args, tmp, append):
    config = {"boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": append},
              "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
              "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": MAC}]}
    path = os.path.join(tmp, "vm.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return [os.path.abspath(args.hearth), "--config-file", path, "--no-api"]


def qemu_argv(args, append):
    return [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=off", "-cpu", "qemu64,-cx16", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", "128",
            "-global", "virtio-mmio.force-legacy=false",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off",
            "-device", f"virtio-net-device,netdev=n0,mac={MAC}", "-kernel", args.guest, "-append", append]


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(argv, timeout_s, ns):
    sh("ip", "netns", "add", ns)
    peer = None
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
        sh("ip", "-n", ns, "addr", "add", "10.79.0.1/24", "dev", "tap0")
        sh("ip", "-n", ns, "link", "set", "tap0", "up")
        peer = subprocess.Popen(["ip", "netns", "exec", ns, "python3", PEER, "--bind", "10.79.0.1", "--port", "7777",
                                 "--sink", "7778"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        peer.stdout.readline()  # "net-peer: listening ..."
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        try:  # ip netns exec execs the VMM: the child's CPU is the VMM's
            p = subprocess.run(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout_s)
            out, err, timed_out = p.stdout, p.stderr, False
        except subprocess.TimeoutExpired as e:
            out, err, timed_out = e.stdout or b"", e.stderr or b"", True
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if peer:
            peer.kill()
            peer.wait()
        subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)
    m = LINE.search(out)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    ok = not timed_out and m is not None and b"TESTGUEST PASS" in out
    r = {"ok": ok, "timed_out": timed_out, "wall_s": round(wall, 3), "cpu_s": round(cpu, 4),
         "stdout_tail": out[-2000:].decode(errors="replace"), "stderr_tail": err[-1000:].decode(errors="replace")}
    if m:
        count, frame, us = int(m.group(2)), int(m.group(4)), int(m.group(5))
        moved = count * frame
        r.update({"count": count, "frame": frame, "us": us, "pps": int(m.group(6)),
                  "mb_s": round(moved / us, 3) if us else None,
                  "peer_count": int(m.group(8)) if m.group(8) else None,
                  "cpu_per_gb": round(cpu / moved * 1e9, 1) if moved else None})
    return r


def main():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("-n", "--iterations", type=int, default=3)
    p.add_argument("--count", type=int, default=2000, help="datagrams per run")
    p.add_argument("--case", action="append", choices=[f"{d}{s}" for d, s in CASES],
                   help="tx1472, rx1472, tx22, rx22 (default: all)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--only", action="append", choices=["hearth", "qemu"])
    p.add_argument("--out", default="bench/out/net.json")
    args = p.parse_args()
    benchlib.check_guest(p, args)
    if os.geteuid() != 0:
        print("skipping: needs root for network namespaces and TAP devices")
        return 0
    sides, skipped = benchlib.runnable_sides(args, args.only)
    cases = [(d, s) for d, s in CASES if not args.case or f"{d}{s}" in args.case]
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
              "count": args.count, "cases": {}, "skipped": skipped}
    ok = True
    with tempfile.TemporaryDirectory(prefix="hearth-net-bench-") as tmp:
        for direction, size in cases:
            name = f"{direction} {size + 42}-byte frames"
            append = boot_args(direction, size, args.count)
            results = {s: {"runs": []} for s in sides}
            print(f"\n== {name}: {append}")
            for i in range(args.iterations):  # interleaved, so host load hits both sides alike
                for side in sides:
                    argv = hearth_argv(args, tmp, append) if side == "hearth" else qemu_argv(args, append)
                    r = measure(argv, args.timeout, f"hearth-nbench-{os.getpid()}")
                    results[side]["runs"].append(r)
                    state = (f"{r['pps']} pps, {r['mb_s']} MB/s, CPU {r['cpu_s']} s ({r['cpu_per_gb']} s/GB), "
                             f"peer {r.get('peer_count')}") if r["ok"] else "FAILED"
                    print(f"  {side} run {i + 1}: {state}", flush=True)
                    if not r["ok"]:
                        ok = False
                        benchlib.print_run_tails(r)
            for side in results:
                results[side]["summary"] = {k: benchlib.summarize_runs(results[side]["runs"], k, 3)
                                            for k, _, _ in METRICS}
            benchlib.print_runs_table(results, sides, METRICS)
            report["cases"][name] = results
    benchlib.write_report(args.out, report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
