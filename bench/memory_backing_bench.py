#!/usr/bin/env python3
"""Guest memory backing benchmark: host pages vs THP madvise vs 2 MiB hugetlbfs, Hearth and QEMU microvm.

Variants (machine-config.huge_pages for Hearth):
  hearth-none     "None": anonymous MAP_NORESERVE memory, host pages
  hearth-thp      "Transparent": 2 MiB-aligned anonymous memory with madvise(MADV_HUGEPAGE)
  hearth-2m       "2M": MAP_HUGETLB|MAP_HUGE_2MB, reserved from the pool at mmap time
  qemu            plain -m (QEMU madvises THP on its RAM itself when THP is in "madvise" mode)
  qemu-2m         -object memory-backend-memfd,hugetlb=on,hugetlbsize=2M (hugetlbfs without a mount)
for each --mem-mib size, interleaved run by run. Per run (bench/boot_bench.py's run_once):
  first_byte_ms  fork/exec -> first guest byte on the serial console (includes mmap, memory-slot
                 registration, loading the guest),
  exit_ms        fork/exec -> process exit (includes tearing guest memory down),
  peak_rss_mib   VmHWM (hugetlb pages are not counted in RSS: they show as HugetlbPages).
The 2 MiB pool is grown for the 2M variants through /proc/sys/vm/nr_hugepages (root) and restored at the
end; where it cannot be, those variants are skipped with the reason.
Python 3 standard library only.
"""

import datetime
import json
import os
import platform
import signal
import sys
import tempfile

import benchlib
import boot_bench  # run_once: the same measurement as the boot benchmark

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"

METRICS = [("first_byte_ms", "first byte (ms)", 1), ("exit_ms", "exit (ms)", 1),
           ("peak_rss_mib", "peak RSS (MiB)", 1)]


def read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def free_2m_pages():
    return read_int(f"{POOL}/free_hugepages") - read_int(f"{POOL}/resv_hugepages")


def hearth_argv(args, tmp, mem_mib, huge_pages):
    path = os.path.join(tmp, f"vm-{mem_mib}-{huge_pages}.json")
    config = {
        "boot-source": {"kernel_image_path": os.path.abspath(args.guest), "boot_args": args.boot_args},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": mem_mib, "huge_pages": huge_pages},
    }
    with open(path, "w") as f:
        json.dump(config, f)
    return [args.hearth, "--config-file", path, "--no-api", "--no-seccomp"]


def qemu_argv(args, mem_mib, hugetlb):
    argv = [args.qemu, "-accel", args.qemu_accel, "-M", "microvm,acpi=on", "-cpu", "qemu64,-cx16",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", str(mem_mib), "-smp", "1", "-kernel", args.guest, "-append", args.boot_args]
    if hugetlb:
        argv[4] = "microvm,acpi=on,memory-backend=mem"
        argv += ["-object", f"memory-backend-memfd,id=mem,size={mem_mib}M,hugetlb=on,hugetlbsize=2M"]
    return argv


def parse_args():
    p = benchlib.arg_parser(__doc__)
    p.add_argument("-n", "--iterations", type=int, default=5)
    p.add_argument("--mem-mib", type=int, nargs="+", default=[128, 1024])
    p.add_argument("--boot-args", default="console=ttyS0 testguest.run=boot")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--only", nargs="+", help="variants to run (default: all)")
    p.add_argument("--out", default="bench/out/memory_backing.json")
    args = p.parse_args()
    benchlib.check_guest(p, args)
    return args


def main():
    args = parse_args()
    variants = ["hearth-none", "hearth-thp", "hearth-2m", "qemu", "qemu-2m"]
    if args.only:
        variants = [v for v in variants if v in args.only]
    skipped = {}
    for v in list(variants):
        binary = args.hearth if v.startswith("hearth") else args.qemu
        reason = benchlib.skip_reason(binary, needs_kvm=v.startswith("hearth") or args.qemu_accel == "kvm")
        if reason:
            skipped[v] = reason
            variants.remove(v)

    # One run of each 2M variant at a time holds at most the largest guest.
    old_nr = read_int(NR_HUGEPAGES)
    need = max(args.mem_mib) // 2
    changed = False
    if any(v.endswith("-2m") for v in variants) and free_2m_pages() < need:
        try:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(old_nr + need - free_2m_pages()))
            changed = True
        except OSError as e:
            print(f"cannot grow the 2 MiB pool: {e}")
        if free_2m_pages() < need:
            for v in [v for v in variants if v.endswith("-2m")]:
                skipped[v] = f"only {free_2m_pages()} free 2 MiB pages, {need} needed"
                variants.remove(v)
    for v, why in skipped.items():
        print(f"skipping {v}: {why}")

    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-membench-") as tmp:
            argvs = {}
            for mem in args.mem_mib:
                for v in variants:
                    if v.startswith("hearth"):
                        pages = {"hearth-none": "None", "hearth-thp": "Transparent", "hearth-2m": "2M"}[v]
                        argvs[(v, mem)] = hearth_argv(args, tmp, mem, pages)
                    else:
                        argvs[(v, mem)] = qemu_argv(args, mem, v == "qemu-2m")
            runs = {key: [] for key in argvs}
            for i in range(args.iterations):
                for key, argv in argvs.items():  # interleaved: drift hits every variant alike
                    r = boot_bench.run_once(argv, key[1], args.timeout, "")
                    runs[key].append(r)
                    if not r["ok"]:
                        print(f"  {key[0]} {key[1]} MiB run {i + 1} FAILED rc={r['rc']}")
                        benchlib.print_run_tails(r)
                print(f"round {i + 1}/{args.iterations} done", flush=True)
            for (v, mem), rs in runs.items():
                results[f"{v}@{mem}"] = {"argv": argvs[(v, mem)], "runs": rs,
                                         "summary": {k: benchlib.summarize_runs(rs, k) for k, _, _ in METRICS}}
    finally:
        if changed:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(old_nr))

    for mem in args.mem_mib:
        print(f"\n{mem} MiB guest")
        sides = [f"{v}@{mem}" for v in variants]
        benchlib.print_runs_table(results, sides, METRICS)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "thp": open("/sys/kernel/mm/transparent_hugepage/enabled").read().strip()},
        "guest": os.path.abspath(args.guest), "boot_args": args.boot_args, "iterations": args.iterations,
        "results": results, "skipped": skipped,
    }
    benchlib.write_report(args.out, report)
    return 1 if any(not r["ok"] for side in results.values() for r in side["runs"]) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
