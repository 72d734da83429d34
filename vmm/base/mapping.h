#pragma once
// Owning mmap: unmapped exactly once.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace hearth {

class Mapping {
 public:
  Mapping() = default;
  // Anonymous private mapping of `size` bytes; throws Error on failure.
  static Mapping anonymous(size_t size);
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
