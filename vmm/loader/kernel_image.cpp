#include "vmm/loader/kernel_image.h"

#include <algorithm>
#include <cstring>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/cmdline.h"
#include "vmm/loader/elf.h"
#include "vmm/memory/touched_pages.h"

namespace hearth::loader {
namespace {

// End of the RAM region that holds 1 MiB: kernels and the initrd live below it.
uint64_t low_ram_end(const GuestMemory& mem) {
  for (const auto& r : mem.regions()) {
    if (r.range.start <= layout::kHimemStart && layout::kHimemStart < r.range.end()) return r.range.end();
  }
  throw Error("kernel image: guest RAM does not extend above 1 MiB");
}

// Zeroes [addr, addr+len), which lies inside one region. In plain anonymous RAM a page the process never
// touched already reads as zero, so only touched pages are written: a memset of the test guest's 2.4 MiB
// bss faulted in ~600 pages (~3 ms on a nested host, and their RSS) that the guest may never use.
void zero_guest_range(const GuestMemory& mem, uint64_t addr, uint64_t len) {
  if (len == 0) return;
  const auto region = std::find_if(mem.regions().begin(), mem.regions().end(), [&](const GuestMemory::Region& r) {
    return addr >= r.range.start && addr - r.range.start < r.range.size;
  });
  if (region == mem.regions().end() || !region->untouched_reads_as_zero) {
    auto all = *mem.slice(addr, len);
    std::memset(all.data(), 0, all.size());
    return;
  }
  TouchedPages pages(region->mapping.data());
  constexpr uint64_t kPage = TouchedPages::kPageSize;
  const uint64_t end = addr + len;
  for (uint64_t at = addr; at < end;) {
    const uint64_t page = (at - region->range.start) / kPage;
    const uint64_t page_end = std::min(end, region->range.start + (page + 1) * kPage);
    if (pages.touched(page)) {
      auto part = *mem.slice(at, page_end - at);
      std::memset(part.data(), 0, part.size());
    }
    at = page_end;
  }
}

LoadedKernel load_elf(const GuestMemory& mem, std::span<const uint8_t> image) {
  const ElfImage elf = parse_elf(image);
  for (const auto& s : elf.segments) {
    if (!mem.contains(s.paddr, s.mem_size)) {
      throw Error(fmt::format("kernel image: ELF program header {} ({:#x}-{:#x}) is outside guest RAM", s.index,
                              s.paddr, s.paddr + s.mem_size));
    }
  }
  for (const auto& s : elf.segments) {
    mem.write(s.paddr, image.subspan(s.file_offset, s.file_size));
    zero_guest_range(mem, s.paddr + s.file_size, s.mem_size - s.file_size);
  }
  LoadedKernel k;
  k.format = KernelFormat::kElf;
  k.entry64 = elf.entry;
  k.pvh_entry = elf.pvh_entry;
  k.kernel_start = elf.segments.front().paddr;  // sorted and disjoint
  k.kernel_end = elf.segments.back().paddr + elf.segments.back().mem_size;
  k.cmdline_max = kCmdlineBufferMax;
  k.initrd_addr_max = UINT32_MAX;  // no header limit; place_initrd keeps it below the MMIO gap
  return k;
}

LoadedKernel load_bzimage(const GuestMemory& mem, std::span<const uint8_t> image) {
  const BzImage bz = parse_bzimage(image);
  const BzImagePlacement at = place_bzimage(bz, low_ram_end(mem));
  mem.write(at.load_addr, image.subspan(bz.payload_offset, bz.payload_size));
  LoadedKernel k;
  k.format = KernelFormat::kBzImage;
  k.entry64 = at.load_addr + kBzImage64BitEntryOffset;
  k.kernel_start = at.load_addr;
  k.kernel_end = at.end;
  k.setup_header = bz.header;
  k.cmdline_max = bz.header.cmdline_size;
  k.initrd_addr_max = bz.header.initrd_addr_max != 0 ? bz.header.initrd_addr_max : kDefaultInitrdAddrMax;
  return k;
}

}  // namespace

LoadedKernel load_kernel(const GuestMemory& mem, std::span<const uint8_t> image) {
  if (has_elf_magic(image)) return load_elf(mem, image);
  if (has_bzimage_magic(image)) return load_bzimage(mem, image);
  throw Error("kernel image: not an ELF64 x86-64 vmlinux or a bzImage");
}

}  // namespace hearth::loader
