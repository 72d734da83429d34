#!/usr/bin/env python3
"""GET /vm/config fidelity.

1. A VM configured over the API with every section Hearth has: GET /vm/config, written to a file and
   started with `hearth --config-file`, answers GET /vm/config with the same JSON, and every key in it is in
   Firecracker's FullVmConfiguration schema.
2. With a Hearth extension set (boot-source.boot_protocol), that key appears, and only it is outside the
   schema; without it the output is plain Firecracker.
"""
import json
import os
import sys
import tempfile

from fc_api import request, start_hearth, swagger_test_setup


def unknown_keys(value, schema, definitions, where):
    """Keys of `value` the schema does not name (recursing through objects and arrays)."""
    while "$ref" in schema:
        schema = definitions[schema["$ref"].split("/")[-1]]
    out = []
    if isinstance(value, dict) and (schema.get("type", "object") == "object"):
        props = schema.get("properties")
        if props is None:  # a free-form object (additionalProperties)
            return out
        for key, sub in value.items():
            if key not in props:
                out.append(f"{where}.{key}")
            else:
                out += unknown_keys(sub, props[key], definitions, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += unknown_keys(item, schema["items"], definitions, f"{where}[{i}]")
    return out


def put(sock, path, body):
    status, text = request(sock, "PUT", path, body)
    if status != 204:
        raise AssertionError(f"PUT {path} -> {status} {text}")


def main():
    loaded = swagger_test_setup()
    if loaded is None:
        return 0
    args, spec = loaded
    definitions = spec["definitions"]
    full = definitions["FullVmConfiguration"]
    failures = []

    with tempfile.TemporaryDirectory(prefix="hearth-vmcfg-") as scratch:
        sock = os.path.join(scratch, "api.sock")
        root = os.path.join(scratch, "rootfs.ext4")
        data = os.path.join(scratch, "data.img")
        for path in (root, data):
            with open(path, "wb") as f:
                f.truncate(1 << 20)
        bucket = {"size": 1048576, "one_time_burst": 0, "refill_time": 100}
        proc = start_hearth(args.hearth, sock)
        try:
            put(sock, "/logger", {"log_path": os.path.join(scratch, "log"), "level": "Warning",
                                  "show_level": True, "show_log_origin": False})
            put(sock, "/metrics", {"metrics_path": os.path.join(scratch, "metrics")})
            put(sock, "/boot-source", {"kernel_image_path": args.guest,
                                       "boot_args": "console=ttyS0 testguest.run=ctrl-alt-del"})
            put(sock, "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "smt": False,
                                          "track_dirty_pages": True, "huge_pages": "Transparent"})
            put(sock, "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": root, "is_root_device": True,
                                         "is_read_only": False, "cache_type": "Writeback"})
            put(sock, "/drives/data", {"drive_id": "data", "path_on_host": data, "is_root_device": False,
                                       "is_read_only": True, "partuuid": "0eaa91a0-01", "io_engine": "Async",
                                       "rate_limiter": {"bandwidth": bucket}})
            put(sock, "/entropy", {"rate_limiter": {"ops": bucket}})
            # A custom CPU template that changes nothing (every bit "x"), so any host boots it.
            put(sock, "/cpu-config", {"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [
                {"register": "ecx", "bitmap": "0b" + "x" * 32}]}]})
            status, text = request(sock, "GET", "/vm/config")
            first = json.loads(text)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print("GET /vm/config:", json.dumps(first, sort_keys=True))
        for section in ("boot-source", "machine-config", "drives", "logger", "metrics", "entropy", "cpu-config"):
            if section not in first:
                failures.append(f"GET /vm/config has no {section}")
        failures += [f"not in Firecracker's schema: {k}" for k in unknown_keys(first, full, definitions, "vm-config")]

        # The output as a config file; the second process boots it and keeps running for the GET.
        config_file = os.path.join(scratch, "vm.json")
        with open(config_file, "w") as f:
            json.dump(first, f)
        proc = start_hearth(args.hearth, sock, ["--config-file", config_file])
        try:
            status, text = request(sock, "GET", "/vm/config")
            second = json.loads(text) if status == 200 else {"status": status, "body": text}
            state = json.loads(request(sock, "GET", "/")[1])["state"]
            request(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if second != first:
            failures.append(f"round trip changed the configuration: {json.dumps(second, sort_keys=True)}")
        if state != "Running" or proc.returncode != 0 or b"TESTGUEST PASS" not in out:
            failures.append(f"the config-file VM did not run: state {state}, exit {proc.returncode}, "
                            f"{err.decode()[-400:]!r}")

        # A Hearth extension shows only when set, and is then the only key outside the schema.
        proc = start_hearth(args.hearth, sock)
        try:
            put(sock, "/boot-source", {"kernel_image_path": args.guest, "boot_protocol": "pvh"})
            ext = json.loads(request(sock, "GET", "/vm/config")[1])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        extra = unknown_keys(ext, full, definitions, "vm-config")
        if extra != ["vm-config.boot-source.boot_protocol"]:
            failures.append(f"with boot_protocol set, keys outside the schema are {extra}")
        if "boot_protocol" in first.get("boot-source", {}):
            failures.append("boot_protocol shown although never set")

    for line in failures:
        print("FAIL:", line)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
