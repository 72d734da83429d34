#include "vmm/loader/pvh.h"

#include <array>
#include <cstring>

#include "vmm/base/error.h"
#include "vmm/loader/cmdline.h"

namespace hearth::loader {
namespace {

template <typename T>
void put(std::array<uint8_t, layout::kPageSize>& page, uint64_t offset, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(page.data() + offset, &value, sizeof(T));
}

}  // namespace

void write_pvh_start_info(const GuestMemory& mem, const std::string& cmdline, std::optional<InitrdPlacement> initrd,
                          const std::vector<E820Entry>& e820, uint64_t rsdp_addr) {
  if (e820.size() > kPvhMemmapMax) {
    throw Error(fmt::format("e820 map has {} entries; the PVH start info page holds at most {}", e820.size(),
                            kPvhMemmapMax));
  }
  write_cmdline(mem, cmdline, kCmdlineBufferMax);

  std::array<uint8_t, layout::kPageSize> page{};
  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = kHvmStartVersion;
  info.cmdline_paddr = layout::kCmdlineAddr;
  info.rsdp_paddr = rsdp_addr;
  info.memmap_paddr = layout::kPvhStartInfoAddr + kPvhMemmapOffset;
  info.memmap_entries = static_cast<uint32_t>(e820.size());
  if (initrd) {
    info.nr_modules = 1;
    info.modlist_paddr = layout::kPvhStartInfoAddr + kPvhModlistOffset;
    put(page, kPvhModlistOffset, HvmModlistEntry{initrd->addr, initrd->size, 0, 0});
  }
  put(page, 0, info);
  for (size_t i = 0; i < e820.size(); ++i) {
    put(page, kPvhMemmapOffset + i * sizeof(HvmMemmapEntry), HvmMemmapEntry{e820[i].addr, e820[i].size, e820[i].type, 0});
  }
  mem.write(layout::kPvhStartInfoAddr, page);
}

}  // namespace hearth::loader
