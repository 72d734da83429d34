#include "vmm/base/mapping.h"

#include "vmm/base/error.h"

namespace hearth {

Mapping Mapping::anonymous(size_t size) {
  // NORESERVE: guest RAM is populated lazily, so a 4 GiB guest costs only what it touches.
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) throw_errno(fmt::format("mmap of {} bytes", size));
  return Mapping(addr, size);
}

Mapping Mapping::file_private(int fd, uint64_t offset, size_t size) {
  // NORESERVE: only pages the guest writes get private copies; the rest stay shared in the page cache.
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd,
                      static_cast<off_t>(offset));
  if (addr == MAP_FAILED) throw_errno(fmt::format("mmap of {} bytes at file offset {:#x}", size, offset));
  return Mapping(addr, size);
}

}  // namespace hearth
