#!/usr/bin/env python3
"""Fails when a source file includes a header from a layer it must not depend on.

Layers, lowest first (docs/architecture.md explains them):
  foundation  vmm/base vmm/config vmm/metrics vmm/seccomp -> foundation
  platform    vmm/memory vmm/kvm vmm/arch vmm/acpi vmm/loader -> foundation, platform
  devices     devices/                                  -> foundation, vmm/memory, devices
  virtio      virtio/                                   -> foundation, vmm/memory, devices, virtio
  vmm         vmm/device_manager vmm/core vmm/snapshot vmm/migration -> everything below, never api/
  api         api/                                      -> foundation, api (never KVM, devices or the VMM)
  jailer      jailer/                                   -> foundation, jailer
  main        vmm/main                                  -> everything
Tests, benchmarks, fuzzers and the test guest may include anything.

Usage: check-layers.py [ROOT]   (ROOT defaults to the repository root)
"""
import pathlib
import re
import sys

GROUPS = [  # (group, path prefixes); the first matching prefix wins
    ("main", ["vmm/main/"]),
    ("vmm", ["vmm/device_manager/", "vmm/core/", "vmm/snapshot/", "vmm/migration/"]),
    ("foundation", ["vmm/base/", "vmm/config/", "vmm/metrics/", "vmm/seccomp/"]),
    ("jailer", ["jailer/"]),
    ("platform", ["vmm/memory/", "vmm/kvm/", "vmm/arch/", "vmm/acpi/", "vmm/loader/"]),
    ("devices", ["devices/"]),
    ("virtio", ["virtio/"]),
    ("api", ["api/"]),
]
ALLOWED = {
    "foundation": {"foundation"},
    "platform": {"foundation", "platform"},
    "devices": {"foundation", "memory", "devices"},
    "virtio": {"foundation", "memory", "devices", "virtio"},
    "vmm": {"foundation", "memory", "platform", "devices", "virtio", "vmm"},
    "api": {"foundation", "api"},
    "jailer": {"foundation", "jailer"},  # the jailer never needs the VMM, only vmm/base and vmm/seccomp
    "main": {"foundation", "memory", "platform", "devices", "virtio", "vmm", "api", "main"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def group_of(path):
    if path.startswith("vmm/memory/"):
        return "memory"  # the one platform part devices may use
    for group, prefixes in GROUPS:
        if any(path.startswith(p) for p in prefixes):
            return group
    return None


def allowed(src_group, dst_group):
    if dst_group is None:
        return True
    ok = ALLOWED["platform" if src_group == "memory" else src_group]
    return dst_group in ok or (dst_group == "memory" and "platform" in ok)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    violations = []
    for f in sorted(root.rglob("*")):
        if f.suffix not in (".h", ".cpp", ".c") or not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        src = group_of(rel)
        if src is None:
            continue
        for inc in INCLUDE.findall(f.read_text(errors="replace")):
            dst = group_of(inc)
            if not allowed(src, dst):
                violations.append(f"{rel}: includes \"{inc}\" ({src} layer must not depend on {dst})")
    for v in violations:
        print(v)
    if violations:
        print(f"check-layers: {len(violations)} include(s) from a lower layer to a higher one")
        return 1
    print("check-layers: every include points down the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
