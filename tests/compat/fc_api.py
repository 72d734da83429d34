"""Talking to hearth's API socket from the compat tests (stdlib only)."""
import http.client
import json
import os
import socket
import subprocess
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sock_path, method, path, body=None):
    conn = UnixConnection(sock_path)
    try:
        data = None if body is None else json.dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def wait_for_socket(path, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False



def start_hearth(hearth, sock_path, extra=()):
    """hearth --api-sock, stdout/stderr captured; raises when the socket never accepts."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    proc = subprocess.Popen([hearth, "--api-sock", sock_path, "--no-seccomp", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if not wait_for_socket(sock_path, 20):
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"hearth's API socket never accepted: {err.decode()[-400:]}")
    return proc


def kvm_missing():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm cannot be opened read-write"
    return ""


def swagger_test_setup():
    """--hearth, --guest and --swagger from the command line, and the swagger file loaded: (args, spec).
    None, after printing why, when there is no usable /dev/kvm (the test then passes as skipped)."""
    import argparse
    import yaml  # Debian: python3-yaml
    ap = argparse.ArgumentParser()
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--swagger", required=True)
    args = ap.parse_args()
    if kvm_missing():
        print("SKIP (needs KVM):", kvm_missing())
        return None
    with open(args.swagger) as f:
        return args, yaml.safe_load(f)
