#pragma once
// The built-in policy's BPF programs compiled at build time (hearth-seccomp-bpf writes builtin_bpf.cpp),
// so start-up installs them instead of running libseccomp (~1.7 ms of every exec on a nested host).
#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace hearth::seccomp {

// "self_pid" comparisons (tgkill only to ourselves) are compiled against this value, which no pid can
// have (pid_max is at most 2^22), and patched with the real pid at start-up.
constexpr uint32_t kPidPlaceholder = 0x3ffffff1;

// One program per ThreadKind, in enum order; pid_slots[i]: the instructions of program i whose k is the pid.
struct PrecompiledPolicy {
  std::array<std::span<const sock_filter>, 4> programs;
  std::array<std::span<const uint16_t>, 4> pid_slots;
};

// Program `index` with `pid` in its pid slots.
std::vector<sock_filter> instantiate(const PrecompiledPolicy& policy, size_t index, uint32_t pid);

// Defined in the generated builtin_bpf.cpp (library hearth_seccomp_builtin).
const PrecompiledPolicy& precompiled_builtin_policy();

}  // namespace hearth::seccomp
