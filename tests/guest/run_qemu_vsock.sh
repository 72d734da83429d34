#!/usr/bin/env bash
# Runs testguest.elf's vsock-echo self-test under QEMU microvm with vhost-vsock-device (modern virtio-mmio),
# connecting out to a host echo server over AF_VSOCK. Needs /dev/vhost-vsock (the vhost_vsock module) and
# python3; without them it skips with the reason. Usage: run_qemu_vsock.sh <testguest.elf>.
# Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_vsock.sh <testguest.elf>}
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-120}
if [ ! -c /dev/vhost-vsock ] || [ ! -w /dev/vhost-vsock ]; then
  echo "SKIP: /dev/vhost-vsock is not available (load vhost_vsock); QEMU's vsock device needs it"
  exit 77
fi
command -v python3 >/dev/null || { echo "SKIP: python3 not found (host echo server)"; exit 77; }
# virtio_begin, virtio_run, virtio_check, fail, expect_line, qemu_finish.
. "$(dirname "${BASH_SOURCE[0]}")/qemu_lib.sh"
virtio_begin

port=$((20000 + $$ % 10000))
cid=$((100 + $$ % 1000))
# The host side: accept AF_VSOCK connections on $port and echo them.
python3 - "$port" <<'PY' &
import socket, sys, threading
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.bind((socket.VMADDR_CID_ANY, int(sys.argv[1])))
s.listen(64)
def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
s.settimeout(float(300))
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
PY
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.5

if virtio_check vsock "vsock-echo testguest.vsock_connect=$port testguest.vsock_conns=4 testguest.vsock_bytes=8192" \
    -device vhost-vsock-device,guest-cid=$cid; then
  expect_line vsock "vsock-echo: ok served=0 connected=4 echoed=0 verified=32768 resets=0"
fi
qemu_finish "QEMU microvm vsock-echo runs:" "vsock-echo passed on QEMU microvm"
