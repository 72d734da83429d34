#pragma once
// The kernel command line, NUL-terminated at layout::kCmdlineAddr (both boot protocols point at it).
#include <cstdint>
#include <string>

#include "vmm/arch/layout.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::loader {

// Longest command line (NUL excluded) our own buffer at kCmdlineAddr holds.
inline constexpr uint64_t kCmdlineBufferMax = layout::kCmdlineMaxSize - 1;

// Throws Error "kernel command line is N bytes; the kernel accepts at most M" where M is
// min(kernel_max, kCmdlineBufferMax), or when the line holds a NUL byte.
void write_cmdline(const GuestMemory& mem, const std::string& cmdline, uint64_t kernel_max);

}  // namespace hearth::loader
