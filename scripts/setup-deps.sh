#!/usr/bin/env bash
# Installs Hearth's build and test dependencies from Debian 12 packages. Idempotent: apt runs only
# when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  libfmt-dev libspdlog-dev nlohmann-json3-dev libgtest-dev libgmock-dev libcli11-dev
  libseccomp-dev liburing-dev libcpp-httplib-dev
  liblzma-dev                # lzma_crc64: the snapshot state file's CRC-64
  clang                      # libFuzzer targets and the sanitizer build
  qemu-system-x86            # the test guest also runs on QEMU microvm, as a reference
  acpica-tools               # iasl disassembles our ACPI tables in unit tests
  busybox-static cpio lz4    # the Debian-kernel initramfs and vmlinux extraction
  curl                       # API examples and tests over the Unix socket
  python3-yaml               # tests/compat reads Firecracker's swagger
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all build and test dependencies are installed"
fi
