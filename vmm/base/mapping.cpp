#include "vmm/base/mapping.h"

#include "vmm/base/error.h"

namespace hearth {

namespace {

// log2(2 MiB) in MAP_HUGE_SHIFT's field picks the 2 MiB pool (Linux's MAP_HUGE_2MB).
constexpr int kMapHuge2M = 21 << MAP_HUGE_SHIFT;

// A 2 MiB-aligned anonymous mapping: THP backs only whole aligned 2 MiB ranges, and mmap aligns to 4 KiB.
Mapping aligned_transparent(size_t size) {
  const size_t padded = size + kHugePageSize;
  void* raw = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw_errno(fmt::format("mmap of {} bytes", padded));
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageSize - 1) & ~(uintptr_t{kHugePageSize} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = aligned + size;
  if (start + padded > tail) ::munmap(reinterpret_cast<void*>(tail), start + padded - tail);
  Mapping m(reinterpret_cast<void*>(aligned), size);
  // Advice only: a kernel without THP leaves host pages, which still work.
  ::madvise(m.data(), size, MADV_HUGEPAGE);
  return m;
}

}  // namespace

Mapping Mapping::anonymous(size_t size, AnonymousPages pages) {
  if (pages == AnonymousPages::kTransparentHuge) return aligned_transparent(size);
  // NORESERVE: guest RAM is populated lazily, so a 4 GiB guest costs only what it touches. Not for hugetlb:
  // there the reservation is what turns a short pool into ENOMEM now instead of SIGBUS in the guest later.
  const int flags = pages == AnonymousPages::kHugetlb2M ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | kMapHuge2M
                                                        : MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (addr == MAP_FAILED) {
    throw_errno(fmt::format("mmap of {} bytes{}", size, pages == AnonymousPages::kHugetlb2M ? " of 2 MiB huge pages" : ""));
  }
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
