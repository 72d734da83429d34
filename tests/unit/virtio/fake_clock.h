#pragma once
#include <cstdint>

#include "virtio/rate_limiter/clock.h"

namespace hearth::virtio::test {

class FakeClock : public Clock {
 public:
  uint64_t now_ns() const override { return now_; }
  void advance_ms(uint64_t ms) { now_ += ms * 1'000'000; }
  void advance_ns(uint64_t ns) { now_ += ns; }

 private:
  uint64_t now_ = 1'000'000'000;
};

}  // namespace hearth::virtio::test
