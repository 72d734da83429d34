#pragma once
// Which pages of an anonymous mapping of this process were ever touched, from /proc/self/pagemap
// (bit 63: present, bit 62: swapped), read a window at a time. An untouched page reads as zero, so
// snapshots and migration skip it without reading it (a read would map a zero page for each).
#include <cstddef>
#include <cstdint>

#include "vmm/base/fd.h"

namespace hearth {

class TouchedPages {
 public:
  static constexpr uint64_t kPageSize = 4096;
  explicit TouchedPages(const uint8_t* base);
  // Page `page` (index from base). Without pagemap every page counts as touched.
  bool touched(uint64_t page);

 private:
  uintptr_t base_;
  UniqueFd fd_;
  uint64_t window_[8192];  // 32 MiB of guest memory per read
  uint64_t first_ = 0, count_ = 0;
};

// True when the `len` bytes at `page` are all zero.
bool page_is_zero(const uint8_t* page, size_t len);

}  // namespace hearth
