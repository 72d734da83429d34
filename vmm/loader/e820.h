#pragma once
// The guest's physical memory map, shared by the zero page and the PVH start info.
#include <cstdint>
#include <vector>

namespace hearth::loader {

inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
  bool operator==(const E820Entry&) const = default;
};

// Low RAM, the reserved EBDA/BIOS hole below 1 MiB, RAM up to the MMIO gap and any RAM above 4 GiB.
// Throws Error when mem_size leaves nothing above 1 MiB.
std::vector<E820Entry> build_e820(uint64_t mem_size);

}  // namespace hearth::loader
