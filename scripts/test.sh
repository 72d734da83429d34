#!/usr/bin/env bash
# README command 2 (and CI): set up, build with warnings as errors, run every test, then run the
# unit tests and the boot tests again under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Each phase prints its start time in seconds since the script began, so a slow CI run shows where.
started=$SECONDS
phase() { echo "== [$((SECONDS - started)) s] $*"; }

scripts/setup-deps.sh
resources/fetch-debian-kernel.sh resources/out
resources/make-initramfs.sh resources/out

phase "include-direction check (docs/architecture.md)"
python3 scripts/check-layers.py
scripts/check-layers-selftest.sh

phase "build (warnings are errors)"
# -g1 (line tables only): full debug info makes an -O2 compile ~40% slower here and CI never debugs;
# backtraces keep their file:line.
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build build-ci -j "$jobs"
phase "all tests"
ctest --test-dir build-ci --output-on-failure -j "$jobs"

# The QEMU reference runs and the Debian kernel check exercise no extra Hearth code paths and take
# minutes, so the sanitizer pass skips them.
phase "ASan/UBSan build: unit and integration tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHEARTH_WERROR=ON -DHEARTH_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCMAKE_C_FLAGS_DEBUG="-g1"
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE qemu -E DebianKernel
phase "done"
