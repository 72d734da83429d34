#include "vmm/loader/initrd.h"

#include <algorithm>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/bytes.h"
#include "vmm/loader/kernel_image.h"

namespace hearth::loader {

InitrdPlacement place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd, const LoadedKernel& kernel,
                             uint64_t mem_size) {
  if (initrd.empty()) throw Error("initrd is empty");
  // initrd_addr_max is the last byte the initrd may use; the MMIO gap caps it too.
  const uint64_t limit = std::min(uint64_t{kernel.initrd_addr_max} + 1, layout::ram_layout(mem_size).low_size);
  const auto floor = align_up(kernel.kernel_end, layout::kPageSize);
  const uint64_t size = initrd.size();
  if (!floor || size > limit || align_down(limit - size, layout::kPageSize) < *floor) {
    throw Error(fmt::format("initrd ({} bytes) does not fit below {:#x} above the kernel (which ends at {:#x})", size,
                            limit, kernel.kernel_end));
  }
  const uint64_t addr = align_down(limit - size, layout::kPageSize);
  mem.write(addr, initrd);
  return {addr, size};
}

}  // namespace hearth::loader
