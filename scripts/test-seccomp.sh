#!/usr/bin/env bash
# The "filters on" test mode (docs/seccomp.md): every integration test, with every hearth it starts
# under seccomp, even those started with --no-seccomp. A syscall a new code path needs but no filter
# allows shows up as a test killed by SIGSYS, with a log line naming the thread kind and the call.
# Usage: scripts/test-seccomp.sh [BUILD_DIR] [ctest args...]   (BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
HEARTH_SECCOMP_REQUIRE=1 ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -L integration \
  -E "DebianKernel|Linux" "$@"
