#pragma once
// A bounded FIFO of bytes, allocated on first use: a connection's held data, either direction.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace hearth::virtio::vsock {

class ByteRing {
 public:
  explicit ByteRing(uint32_t capacity) : capacity_(capacity) {}

  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t room() const { return capacity_ - size_; }

  // Appends what fits; returns how many bytes were taken.
  uint32_t push(std::span<const uint8_t> in) {
    if (!data_ && !in.empty()) data_ = std::make_unique<uint8_t[]>(capacity_);
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(in.size(), room()));
    for (uint32_t done = 0; done < n;) {
      const uint32_t tail = (head_ + size_) % capacity_;
      const uint32_t chunk = std::min(n - done, capacity_ - tail);
      std::memcpy(data_.get() + tail, in.data() + done, chunk);
      size_ += chunk;
      done += chunk;
    }
    return n;
  }
  // The oldest contiguous run of bytes (empty when the ring is).
  std::span<const uint8_t> front() const {
    if (size_ == 0) return {};
    return {data_.get() + head_, std::min(size_, capacity_ - head_)};
  }
  // Copies up to out.size() bytes from the front without removing them; returns how many.
  uint32_t peek(std::span<uint8_t> out) const {
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(out.size(), size_));
    for (uint32_t done = 0; done < n;) {
      const uint32_t at = (head_ + done) % capacity_;
      const uint32_t chunk = std::min(n - done, capacity_ - at);
      std::memcpy(out.data() + done, data_.get() + at, chunk);
      done += chunk;
    }
    return n;
  }
  void pop(uint32_t n) {
    n = std::min(n, size_);
    head_ = size_ == n ? 0 : (head_ + n) % capacity_;
    size_ -= n;
    if (size_ == 0) data_.reset();  // an idle connection holds no buffer
  }
  void clear() { pop(size_); }

 private:
  uint32_t capacity_;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
  std::unique_ptr<uint8_t[]> data_;
};

}  // namespace hearth::virtio::vsock
