#!/usr/bin/env bash
# Proves check-layers.py can fail: a planted upward include must be caught, a clean tree must pass.
set -euo pipefail
checker="$(dirname "$0")/check-layers.py"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/virtio/x" "$tree/vmm/core" "$tree/api"
echo '#include "vmm/base/error.h"' > "$tree/virtio/x/ok.h"
python3 "$checker" "$tree" >/dev/null || { echo "FAIL: a clean tree was refused"; exit 1; }
echo '#include "vmm/core/vmm.h"' > "$tree/virtio/x/bad.h"
echo '#include "vmm/kvm/kvm.h"' > "$tree/api/bad.cpp"
if out=$(python3 "$checker" "$tree"); then echo "FAIL: planted violations passed"; exit 1; fi
grep -q 'virtio/x/bad.h: includes "vmm/core/vmm.h"' <<<"$out" || { echo "FAIL: virtio->vmm not named"; exit 1; }
grep -q 'api/bad.cpp: includes "vmm/kvm/kvm.h"' <<<"$out" || { echo "FAIL: api->kvm not named"; exit 1; }
echo "PASS: planted violations caught:"; echo "$out"
