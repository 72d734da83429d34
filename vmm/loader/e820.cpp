#include "vmm/loader/e820.h"

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"

namespace hearth::loader {

std::vector<E820Entry> build_e820(uint64_t mem_size) {
  if (mem_size <= layout::kHimemStart) {
    throw Error(fmt::format("guest memory of {} bytes is too small: it must extend above 1 MiB", mem_size));
  }
  const layout::RamLayout ram = layout::ram_layout(mem_size);
  std::vector<E820Entry> map{
      {0, layout::kEbdaStart, kE820Ram},
      // EBDA, VGA hole, ACPI tables and BIOS area: the guest must not allocate from them.
      {layout::kEbdaStart, layout::kHimemStart - layout::kEbdaStart, kE820Reserved},
      {layout::kHimemStart, ram.low_size - layout::kHimemStart, kE820Ram},
  };
  if (ram.high_size > 0) map.push_back({layout::kHighRamStart, ram.high_size, kE820Ram});
  return map;
}

}  // namespace hearth::loader
