#include "vmm/loader/kernel_image.h"

#include <algorithm>
#include <cstring>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/cmdline.h"
#include "vmm/loader/elf.h"

namespace hearth::loader {
namespace {

// End of the RAM region that holds 1 MiB: kernels and the initrd live below it.
uint64_t low_ram_end(const GuestMemory& mem) {
  for (const auto& r : mem.regions()) {
    if (r.range.start <= layout::kHimemStart && layout::kHimemStart < r.range.end()) return r.range.end();
  }
  throw Error("kernel image: guest RAM does not extend above 1 MiB");
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
    auto bss = *mem.slice(s.paddr + s.file_size, s.mem_size - s.file_size);
    std::memset(bss.data(), 0, bss.size());
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
