#!/usr/bin/env python3
"""Memory overcommit with the balloon: N test-guest VMs that each touch most of their RAM would need more
than a memory budget (a cgroup limit this script sets), so each is shrunk with its balloon right after it
touched its memory; all N then fit under the budget and keep running. Prints each VM's RSS touched and
ballooned, the totals, the budget, and the cgroup's peak and OOM-kill count.

The cgroup is the memory controller's: cgroup v2 (memory.max) where the unified hierarchy has it, else v1
(memory.limit_in_bytes); it is created under the controller's root and removed at the end. Needs root and
/dev/kvm (skips with a reason otherwise). Hearth only: QEMU's balloon is driven through QMP, which this
demo does not need to make its point (s3 < s1 + s2).

  python3 bench/overcommit_bench.py [--vms 4] [--mem-mib 128] [--touch-mib 80] [--balloon-mib 64]
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def api(sock, method, path, body=None):
    c = UnixHTTP(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def make_cgroup(name):
    """(directory, limit file, peak file or None, oom reader) of a new memory cgroup."""
    unified = "/sys/fs/cgroup"
    if os.path.exists(f"{unified}/cgroup.controllers") and "memory" in open(f"{unified}/cgroup.controllers").read():
        d = f"{unified}/{name}"
        os.mkdir(d)
        return d, "memory.max", "memory.peak", lambda: events(d, "memory.events", "oom_kill")
    d = f"/sys/fs/cgroup/memory/{name}"
    os.mkdir(d)
    return d, "memory.limit_in_bytes", "memory.max_usage_in_bytes", lambda: events(d, "memory.oom_control", "oom_kill")


def events(d, f, key):
    try:
        for line in open(f"{d}/{f}"):
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except OSError:
        pass
    return 0


def wait_output(path, text, proc, count=1, timeout=180):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        with open(path, "rb") as f:
            if f.read().decode(errors="replace").count(text) >= count:
                return True
        time.sleep(0.1)
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hearth", default="build/hearth")
    p.add_argument("--guest", default=benchlib.DEFAULT_GUEST)
    p.add_argument("--vms", type=int, default=4)
    p.add_argument("--mem-mib", type=int, default=128)
    p.add_argument("--touch-mib", type=int, default=80)  # from 32 MiB up, inside 128 MiB
    p.add_argument("--balloon-mib", type=int, default=64)
    p.add_argument("--budget-mib", type=int, default=0, help="default: the ballooned VMs plus one unballooned, plus 24 MiB")
    args = p.parse_args()
    reason = benchlib.skip_reason(args.hearth, needs_kvm=True)
    if reason or os.geteuid() != 0:
        print(f"skipping: {reason or 'needs root for a cgroup'}")
        return 0
    # Each VM's host cost: what it touched plus ~12 MiB of VMM and guest image; ballooned, the touch less the balloon.
    need_full = args.vms * (args.touch_mib + 12)
    # VMs start one at a time and each touches its memory before its balloon inflates: the budget must hold
    # the ballooned ones plus one full one (and some slack), which is still far below all of them unballooned.
    one_ballooned = args.touch_mib - args.balloon_mib + 12
    budget = args.budget_mib or (args.vms - 1) * one_ballooned + args.touch_mib + 12 + 24
    print(f"{args.vms} VMs x {args.mem_mib} MiB, each touching {args.touch_mib} MiB: about {need_full} MiB unballooned; "
          f"budget {budget} MiB; balloon {args.balloon_mib} MiB each")
    if budget >= need_full:
        print("warning: the budget holds all VMs unballooned; pick a smaller --budget-mib to show overcommit")

    cg, limit_file, peak_file, oom_kills = make_cgroup(f"hearth-overcommit-{os.getpid()}")
    tmp = tempfile.TemporaryDirectory()
    procs, rows = [], []
    ok = True
    try:
        with open(f"{cg}/{limit_file}", "w") as f:
            f.write(str(budget << 20))
        for i in range(args.vms):
            sock, out, cfg = (f"{tmp.name}/vm{i}.{x}" for x in ("sock", "out", "json"))
            config = {
                "boot-source": {"kernel_image_path": os.path.abspath(args.guest),
                                "boot_args": f"console=ttyS0 testguest.run=balloon testguest.balloon_touch_mib={args.touch_mib} "
                                             "testguest.balloon_secs=100000"},
                "machine-config": {"vcpu_count": 1, "mem_size_mib": args.mem_mib},
                "balloon": {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 1},
            }
            with open(cfg, "w") as f:
                json.dump(config, f)
            # The shell joins the cgroup, then becomes hearth: every page it touches is charged there.
            proc = subprocess.Popen(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$0" "$@"', args.hearth,
                                     "--config-file", cfg, "--api-sock", sock],
                                    stdout=open(out, "wb"), stderr=open(out + ".err", "wb"), stdin=subprocess.DEVNULL)
            procs.append(proc)
            if not wait_output(out, "balloon: actual=0 target=0", proc):
                print(f"vm{i}: never finished touching its memory: {open(out + '.err').read()[-300:]}")
                ok = False
                break
            touched = benchlib.proc_status_kib(proc.pid, "VmRSS") // 1024
            t0 = time.time()
            status, body = api(sock, "PATCH", "/balloon", {"amount_mib": args.balloon_mib})
            if status != 204 or not wait_output(out, f"balloon: actual={args.balloon_mib * 256} ", proc):
                print(f"vm{i}: balloon did not inflate ({status} {body!r})")
                ok = False
                break
            ms = (time.time() - t0) * 1000
            rows.append((i, touched, benchlib.proc_status_kib(proc.pid, "VmRSS") // 1024, ms))
        time.sleep(3)  # all keep running: statistics still arrive, nobody was OOM-killed
        alive = 0
        for i, proc in enumerate(procs):
            if proc.poll() is None:
                status, body = api(f"{tmp.name}/vm{i}.sock", "GET", "/balloon/statistics")
                alive += status == 200 and json.loads(body).get("actual_mib") == args.balloon_mib
        print(f"{'vm':>4} {'touched RSS MiB':>16} {'ballooned RSS MiB':>18} {'inflate ms':>11}")
        for i, touched, after, ms in rows:
            print(f"{i:>4} {touched:>16} {after:>18} {ms:>11.0f}")
        total_touched = sum(r[1] for r in rows)
        total_after = sum(benchlib.proc_status_kib(p.pid, "VmRSS") // 1024 for p in procs if p.poll() is None)
        peak = int(open(f"{cg}/{peak_file}").read()) >> 20 if peak_file and os.path.exists(f"{cg}/{peak_file}") else -1
        print(f"total RSS: {total_touched} MiB touched (the sum they would need) -> {total_after} MiB ballooned; "
              f"budget {budget} MiB; cgroup peak {peak} MiB; oom kills {oom_kills()}; "
              f"running with balloon at target {alive}/{args.vms}")
        ok = ok and alive == args.vms and total_touched > budget >= total_after
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
        time.sleep(0.2)
        os.rmdir(cg)
        tmp.cleanup()
    print("overcommit: ok" if ok else "overcommit: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
