#pragma once
// Monotonic time source for token buckets; injectable so tests control time.
#include <time.h>

#include <cstdint>

namespace hearth::virtio {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ns() const = 0;
};

class MonotonicClock : public Clock {
 public:
  uint64_t now_ns() const override {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
  }
};

}  // namespace hearth::virtio
