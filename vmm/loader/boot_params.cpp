#include "vmm/loader/boot_params.h"

#include <algorithm>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/cmdline.h"
#include "vmm/loader/kernel_image.h"

namespace hearth::loader {
namespace {

// The real-mode heap never runs (we enter at 64 bits), but boot.rst asks for a sane value with CAN_USE_HEAP.
constexpr uint16_t kHeapEndPtr = 0xe000 - 0x200;

SetupHeader elf_header(const LoadedKernel& kernel) {
  SetupHeader h{};
  h.version = kElfBootProtocol;
  h.loadflags = kLoadflagLoadedHigh;
  h.kernel_alignment = kElfKernelAlignment;
  h.cmdline_size = static_cast<uint32_t>(std::min(kernel.cmdline_max, kCmdlineBufferMax));
  h.initrd_addr_max = kernel.initrd_addr_max;
  return h;
}

}  // namespace

void write_boot_params(const GuestMemory& mem, const LoadedKernel& kernel, const std::string& cmdline,
                       std::optional<InitrdPlacement> initrd, const std::vector<E820Entry>& e820,
                       uint64_t rsdp_addr) {
  if (e820.size() > kZeroPageE820Max) {
    throw Error(fmt::format("e820 map has {} entries; the zero page holds at most {}", e820.size(), kZeroPageE820Max));
  }
  write_cmdline(mem, cmdline, kernel.cmdline_max);

  BootParams bp{};
  if (kernel.setup_header) {
    bp.hdr = *kernel.setup_header;
    bp.hdr.loadflags |= kLoadflagCanUseHeap;
    bp.hdr.heap_end_ptr = kHeapEndPtr;
  } else {
    bp.hdr = elf_header(kernel);
  }
  bp.hdr.header = kHdrSMagic;
  bp.hdr.boot_flag = kBootFlagMagic;
  bp.hdr.type_of_loader = kLoaderTypeUndefined;
  bp.hdr.setup_data = 0;  // the image's value is not a pointer we wrote
  bp.hdr.cmd_line_ptr = static_cast<uint32_t>(layout::kCmdlineAddr);
  bp.ext_cmd_line_ptr = static_cast<uint32_t>(layout::kCmdlineAddr >> 32);
  if (initrd) {
    bp.hdr.ramdisk_image = static_cast<uint32_t>(initrd->addr);
    bp.ext_ramdisk_image = static_cast<uint32_t>(initrd->addr >> 32);
    bp.hdr.ramdisk_size = static_cast<uint32_t>(initrd->size);
    bp.ext_ramdisk_size = static_cast<uint32_t>(initrd->size >> 32);
  } else {
    bp.hdr.ramdisk_image = 0;
    bp.hdr.ramdisk_size = 0;
  }
  bp.acpi_rsdp_addr = rsdp_addr;
  bp.e820_entries = static_cast<uint8_t>(e820.size());
  for (size_t i = 0; i < e820.size(); ++i) bp.e820_table[i] = {e820[i].addr, e820[i].size, e820[i].type};
  mem.write_obj(layout::kZeroPageAddr, bp);
}

}  // namespace hearth::loader
