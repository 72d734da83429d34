#include "vmm/memory/touched_pages.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace hearth {

TouchedPages::TouchedPages(const uint8_t* base) : base_(reinterpret_cast<uintptr_t>(base)) {
  fd_.reset(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
}

bool TouchedPages::touched(uint64_t page) {
  if (!fd_) return true;
  if (page < first_ || page >= first_ + count_) {
    const uint64_t vpage = base_ / kPageSize + page;
    const ssize_t n = ::pread(fd_.get(), window_, sizeof(window_), static_cast<off_t>(vpage * sizeof(uint64_t)));
    if (n < static_cast<ssize_t>(sizeof(uint64_t))) {
      fd_.reset();
      return true;
    }
    first_ = page;
    count_ = static_cast<uint64_t>(n) / sizeof(uint64_t);
  }
  return (window_[page - first_] >> 62) & 3;
}

bool page_is_zero(const uint8_t* page, size_t len) {
  alignas(64) static const uint8_t kZeroPage[TouchedPages::kPageSize] = {};
  while (len > 0) {
    const size_t n = len < sizeof(kZeroPage) ? len : sizeof(kZeroPage);
    if (std::memcmp(page, kZeroPage, n) != 0) return false;
    page += n;
    len -= n;
  }
  return true;
}

}  // namespace hearth
