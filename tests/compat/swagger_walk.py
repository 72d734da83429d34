#!/usr/bin/env python3
"""Walks every path and method of Firecracker's swagger against hearth, before and after boot.

Each request carries a plausible body built from the schema (required fields, first enum value, paths
inside a scratch directory). Hearth must answer every one with a 2xx, or with a 400 whose JSON body has
fault_message: a path/method Firecracker has is never 404 or 405 here.
"""
import json
import os
import sys
import tempfile

from fc_api import request, start_hearth, swagger_test_setup


class BodyMaker:
    """A plausible instance of a swagger schema."""

    def __init__(self, spec, scratch):
        self.definitions = spec.get("definitions", {})
        self.scratch = scratch

    def make(self, schema, name=""):
        if "$ref" in schema:
            ref = schema["$ref"].split("/")[-1]
            return self.make(self.definitions[ref], name)
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type", "object")
        if kind == "object":
            props = schema.get("properties", {})
            return {key: self.make(props.get(key, {}), key) for key in schema.get("required", [])}
        if kind == "array":
            return []
        if kind == "integer":
            if name.endswith("_mib"):
                return 128
            return max(1, schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "string":
            if "path" in name or name in ("uds_path", "socket"):
                return os.path.join(self.scratch, f"walk-{name}")
            if name.endswith("_id") or name == "id":
                return "walk0"
            return "walk"
        return None


def operations(spec):
    for path, item in spec["paths"].items():
        for method in ("get", "put", "patch", "post", "delete"):
            if method in item:
                yield path, method.upper(), item[method]


def concrete(path):
    # Path parameters get a valid id: /drives/{drive_id} -> /drives/walk0.
    out = []
    for part in path.split("/"):
        out.append("walk0" if part.startswith("{") else part)
    return "/".join(out)


def body_for(maker, path, op):
    for param in op.get("parameters", []):
        if param.get("in") == "body":
            body = maker.make(param.get("schema", {}))
            # The body's id must match the path's.
            if isinstance(body, dict):
                for key in list(body):
                    if key.endswith("_id") or key == "id":
                        body[key] = "walk0"
            return body if body is not None else {}
    return None


def walk(spec, maker, sock_path, phase):
    failures = []
    count = 0
    for path, method, op in operations(spec):
        url = concrete(path)
        body = body_for(maker, path, op)
        status, text = request(sock_path, method, url, body)
        count += 1
        ok = 200 <= status < 300
        if status == 400:
            try:
                ok = isinstance(json.loads(text).get("fault_message"), str)
            except (ValueError, AttributeError):
                ok = False
        line = f"{phase}: {method} {url} -> {status} {text.strip()[:160]}"
        print(line)
        if not ok:
            failures.append(line)
    return count, failures


def main():
    loaded = swagger_test_setup()
    if loaded is None:
        return 0
    args, spec = loaded

    with tempfile.TemporaryDirectory(prefix="hearth-walk-") as scratch:
        sock_path = os.path.join(scratch, "api.sock")
        maker = BodyMaker(spec, scratch)
        proc = start_hearth(args.hearth, sock_path)
        try:
            n_before, failures = walk(spec, maker, sock_path, "before boot")
            # The walk may have configured anything: boot a fresh process for the second half.
            proc.terminate()
            proc.wait(timeout=30)
            proc = start_hearth(args.hearth, sock_path)
            # The test guest waits for Ctrl-Alt-Del, so it runs through the whole second walk.
            steps = [("PUT", "/boot-source", {"kernel_image_path": args.guest,
                                              "boot_args": "console=ttyS0 testguest.run=ctrl-alt-del"}),
                     ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
                     ("PUT", "/actions", {"action_type": "InstanceStart"})]
            for method, path, body in steps:
                status, text = request(sock_path, method, path, body)
                if status != 204:
                    print(f"FAIL: {method} {path} -> {status} {text}")
                    return 1
            n_after, more = walk(spec, maker, sock_path, "after boot")
            failures += more
            request(sock_path, "PATCH", "/vm", {"state": "Resumed"})
            status, text = request(sock_path, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
            out, err = proc.communicate(timeout=120)
            out = out.decode("utf-8", "replace")
            if status != 204 or proc.returncode != 0 or "TESTGUEST PASS" not in out:
                failures.append(f"the guest did not run through the walk: SendCtrlAltDel {status} {text}, exit "
                                f"{proc.returncode}, stdout tail {out[-400:]!r}, stderr tail {err.decode()[-400:]!r}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"{n_before} operations before boot, {n_after} after; {len(failures)} failures")
    for line in failures:
        print("FAIL:", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
