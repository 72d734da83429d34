#pragma once
// Loads a guest kernel (ELF64 vmlinux or bzImage) into guest RAM and reports how to enter it.
#include <cstdint>
#include <optional>
#include <span>

#include "vmm/loader/boot_params.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::loader {

enum class KernelFormat { kElf, kBzImage };

struct LoadedKernel {
  KernelFormat format = KernelFormat::kElf;
  uint64_t entry64 = 0;               // Linux 64-bit boot entry (physical); rsi = zero page
  std::optional<uint32_t> pvh_entry;  // PVH 32-bit entry (ELF only); ebx = PVH start info
  uint64_t kernel_start = 0;          // lowest guest address the kernel occupies
  uint64_t kernel_end = 0;            // one past the highest (bss and bzImage init_size included)
  std::optional<SetupHeader> setup_header;  // bzImage: the image's header, seeded into the zero page
  uint64_t cmdline_max = 0;           // longest command line (NUL excluded) the kernel accepts
  uint32_t initrd_addr_max = 0;       // highest address the initrd may occupy (inclusive)
};

// Detects the format, validates every header field, checks the kernel fits in guest RAM at or above
// layout::kHimemStart, then copies it in. Nothing is written when validation fails.
// Throws Error("kernel image: ...") naming the problem.
LoadedKernel load_kernel(const GuestMemory& mem, std::span<const uint8_t> image);

}  // namespace hearth::loader
