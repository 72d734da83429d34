#!/usr/bin/env bash
# README command 1: set up, build, and boot the demo microVM (the test guest) on this terminal.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target hearth testguest

mkdir -p build/demo
cat > build/demo/vm.json <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PWD/build/tests/guest/testguest.elf",
    "boot_args": "console=ttyS0 testguest.run=boot"
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 },
  "entropy": {}
}
JSON
echo "demo: booting build/demo/vm.json (2 vCPUs, 256 MiB, a virtio-rng) with the test guest"
exec build/hearth --config-file build/demo/vm.json --no-api --level Info --boot-timer
