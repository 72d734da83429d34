#!/usr/bin/env python3
"""virtio-vsock throughput: host->guest and guest->host over Hearth's hybrid Unix-socket model.

Runs the test guest's vsock-echo in sink mode (testguest.vsock_sink=1): host->guest, the host connects to
uds_path, writes "CONNECT 52\n" and streams --bytes; the guest discards them (returning credit) and closes
once the host shuts its side. Guest->host, the guest connects to host port 5000 (the Unix socket
<uds_path>_5000 here) and streams --bytes of constant data. Timed on the host from the first byte to EOF.
The guest's code is emulated on this machine (nested KVM), so the numbers mostly measure the guest.

QEMU side by side needs vhost-vsock (/dev/vhost-vsock) and an AF_VSOCK host; without it the QEMU column is
skipped with the reason printed.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_for(proc_out, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(proc_out, "rb") as f:
            if text.encode() in f.read():
                return True
        time.sleep(0.02)
    return False


def boot(args, tmp, extra):
    uds = os.path.join(tmp, "v.sock")
    config = {"boot-source": {"kernel_image_path": os.path.abspath(args.guest),
                              "boot_args": "console=ttyS0 testguest.run=vsock-echo testguest.vsock_sink=1 " + extra},
              "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
              "vsock": {"guest_cid": 3, "uds_path": uds}}
    path = os.path.join(tmp, "vm.json")
    with open(path, "w") as f:
        json.dump(config, f)
    out = os.path.join(tmp, "out.txt")
    proc = subprocess.Popen([args.hearth, "--config-file", path, "--no-api", "--metrics-path",
                             os.path.join(tmp, "metrics.json")], stdout=open(out, "wb"),
                            stderr=subprocess.DEVNULL)
    return proc, uds, out


def host_to_guest(args):
    with tempfile.TemporaryDirectory() as tmp:
        proc, uds, out = boot(args, tmp, "testguest.vsock_port=52 testguest.vsock_serve=1")
        try:
            if not wait_for(out, "vsock-echo: listening", 60):
                raise RuntimeError("guest did not start listening")
            s = socket.socket(socket.AF_UNIX)
            s.connect(uds)
            s.sendall(b"CONNECT 52\n")
            line = b""
            while not line.endswith(b"\n"):
                line += s.recv(1)
            chunk = b"\xa5" * 65536
            t0 = time.time()
            left = args.bytes
            while left > 0:
                n = s.send(chunk[:min(left, len(chunk))])
                left -= n
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass  # EOF once the guest has consumed everything and closed
            return args.bytes / (time.time() - t0) / 1e6
        finally:
            proc.wait(timeout=60)


def guest_to_host(args):
    with tempfile.TemporaryDirectory() as tmp:
        uds = os.path.join(tmp, "v.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(uds + "_5000")
        srv.listen(1)
        result = {}

        def serve():
            c, _ = srv.accept()
            got, t0 = 0, None
            while True:
                d = c.recv(65536)
                if not d:
                    break
                if t0 is None:
                    t0 = time.time()
                got += len(d)
            result["mbs"] = got / (time.time() - t0) / 1e6 if t0 else 0.0
            result["bytes"] = got

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        proc, _, out = boot(args, tmp, f"testguest.vsock_connect=5000 testguest.vsock_bytes={args.bytes}")
        proc.wait(timeout=300)
        t.join(timeout=10)
        if result.get("bytes") != args.bytes:
            with open(out, "rb") as f:
                tail = f.read()[-300:].decode(errors="replace")
            with open(os.path.join(tmp, "metrics.json")) as f:
                metrics = [json.loads(line).get("vsock") for line in f if line.strip()]
            raise RuntimeError(f"host received {result.get('bytes')} of {args.bytes} bytes; guest: {tail}; "
                               f"vsock metrics: {metrics}")
        return result["mbs"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hearth", default=os.path.join(ROOT, "build", "hearth"))
    p.add_argument("--guest", default=os.path.join(ROOT, "build", "tests", "guest", "testguest.elf"))
    p.add_argument("--bytes", type=int, default=4 << 20)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    print(f"vsock throughput, {args.bytes} bytes per stream, {args.runs} runs (median, min..max MB/s)")
    for name, fn in (("host->guest", host_to_guest), ("guest->host", guest_to_host)):
        rates = [fn(args) for _ in range(args.runs)]
        print(f"  hearth {name:12s} {statistics.median(rates):8.2f} MB/s  ({min(rates):.2f}..{max(rates):.2f})")
    if not os.path.exists("/dev/vhost-vsock"):
        print("  qemu   skipped: /dev/vhost-vsock is absent (vhost_vsock module not loaded); QEMU microvm's "
              "vhost-vsock-device needs it")
    else:
        print("  qemu   not measured by this script yet (needs an AF_VSOCK host peer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
