#pragma once
// Xen PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h): the page whose address is in ebx
// when the vCPU starts at the kernel's XEN_ELFNOTE_PHYS32_ENTRY in 32-bit protected mode.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/arch/layout.h"
#include "vmm/loader/e820.h"
#include "vmm/loader/initrd.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::loader {

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;
inline constexpr uint32_t kHvmStartVersion = 1;  // version 1 adds the memory map

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 48);

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // E820 type numbers
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

// Layout inside the page at layout::kPvhStartInfoAddr.
inline constexpr uint64_t kPvhModlistOffset = 0x40;
inline constexpr uint64_t kPvhMemmapOffset = 0x80;
inline constexpr size_t kPvhMemmapMax = (layout::kPageSize - kPvhMemmapOffset) / sizeof(HvmMemmapEntry);
static_assert(sizeof(HvmStartInfo) <= kPvhModlistOffset);
static_assert(kPvhModlistOffset + sizeof(HvmModlistEntry) <= kPvhMemmapOffset);
static_assert(kPvhMemmapMax >= 128, "holds any map the zero page holds");

// Writes the command line at layout::kCmdlineAddr and the start info, initrd module and memory map
// in the page at layout::kPvhStartInfoAddr. Throws Error when the command line or the map is too long.
void write_pvh_start_info(const GuestMemory& mem, const std::string& cmdline, std::optional<InitrdPlacement> initrd,
                          const std::vector<E820Entry>& e820, uint64_t rsdp_addr);

}  // namespace hearth::loader
