#include "vmm/base/mapping.h"

#include "vmm/base/error.h"

namespace hearth {

Mapping Mapping::anonymous(size_t size) {
  // NORESERVE: guest RAM is populated lazily, so a 4 GiB guest costs only what it touches.
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) throw_errno(fmt::format("mmap of {} bytes", size));
  return Mapping(addr, size);
}

}  // namespace hearth
