#pragma once
// Where the initrd goes: as high as the kernel allows, above the kernel, below the MMIO gap.
#include <cstdint>
#include <span>

#include "vmm/memory/guest_memory.h"

namespace hearth::loader {

struct LoadedKernel;

struct InitrdPlacement {
  uint64_t addr = 0;
  uint64_t size = 0;
};

// Copies `initrd` to the highest page-aligned address that ends at or below
// min(kernel.initrd_addr_max + 1, end of RAM below the MMIO gap) and starts at or above the kernel's
// end. Throws Error when it is empty or does not fit.
InitrdPlacement place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd, const LoadedKernel& kernel,
                             uint64_t mem_size);

}  // namespace hearth::loader
