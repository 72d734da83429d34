#pragma once
// Owning mmap: unmapped exactly once.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace hearth {

// How anonymous memory is backed: host pages, transparent huge pages (2 MiB-aligned, madvise'd), or 2 MiB
// hugetlbfs pages (reserved from the host's pool at mmap time, so a short pool fails here, not on a SIGBUS).
enum class AnonymousPages { kHost, kTransparentHuge, kHugetlb2M };

inline constexpr size_t kHugePageSize = size_t{2} << 20;

class Mapping {
 public:
  Mapping() = default;
  // Anonymous private mapping of `size` bytes; throws Error on failure (with kHugetlb2M, `size` must be a
  // multiple of kHugePageSize and ENOMEM means the pool is short).
  static Mapping anonymous(size_t size, AnonymousPages pages = AnonymousPages::kHost);
  // Private (copy-on-write) read-write mapping of `size` bytes of `fd` from `offset`: pages load from the
  // file on first touch and writes never reach it. Throws Error on failure.
  static Mapping file_private(int fd, uint64_t offset, size_t size);
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      unmap();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~Mapping() { unmap(); }

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  void unmap() {
    if (addr_) ::munmap(addr_, size_);
    addr_ = nullptr;
  }
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hearth
