#pragma once
// Firecracker-compatible token bucket: `size` tokens refill linearly over `refill_time_ms`; an
// extra `one_time_burst` is spent first and never refills. Time comes from an injected Clock.
#include <cstdint>
#include <optional>

#include "virtio/rate_limiter/clock.h"

namespace hearth::virtio {

struct TokenBucketState {
  uint64_t size = 0;
  uint64_t initial_one_time_burst = 0;
  uint64_t refill_time_ms = 0;
  uint64_t one_time_burst = 0;
  uint64_t budget = 0;
  uint64_t elapsed_ns = 0;  // time since the last refill, so a restore keeps partial progress
  bool operator==(const TokenBucketState&) const = default;
};

class TokenBucket {
 public:
  enum class Reduction {
    kSuccess,          // tokens taken
    kFailure,          // not enough tokens yet; nothing taken
    kOverConsumption,  // request bigger than the bucket: taken, budget drained, caller must wait
  };

  // nullopt when size or refill_time_ms is 0 (Firecracker: such a bucket means "no limit").
  static std::optional<TokenBucket> create(uint64_t size, uint64_t one_time_burst, uint64_t refill_time_ms,
                                           const Clock& clock);

  Reduction reduce(uint64_t tokens);
  // Gives tokens back (e.g. a request undone), never above the initial amounts.
  void replenish(uint64_t tokens);
  // For kOverConsumption: how long the caller should wait, in ms (excess / size * refill time).
  uint64_t over_consumption_wait_ms() const { return over_wait_ms_; }

  uint64_t size() const { return size_; }
  uint64_t one_time_burst() const { return one_time_burst_; }
  uint64_t initial_one_time_burst() const { return initial_one_time_burst_; }
  uint64_t refill_time_ms() const { return refill_time_ms_; }
  uint64_t budget() const { return budget_; }

  TokenBucketState save() const;
  static std::optional<TokenBucket> restore(const TokenBucketState& state, const Clock& clock);

 private:
  TokenBucket(uint64_t size, uint64_t one_time_burst, uint64_t refill_time_ms, const Clock& clock);
  void auto_replenish();

  const Clock* clock_;
  uint64_t size_;
  uint64_t initial_one_time_burst_;
  uint64_t refill_time_ms_;
  uint64_t one_time_burst_;
  uint64_t budget_;
  uint64_t last_update_ns_;
  // size / refill_ns reduced by their gcd, so the refill math stays exact without overflow.
  uint64_t processed_capacity_;
  uint64_t processed_refill_ns_;
  uint64_t over_wait_ms_ = 0;
};

}  // namespace hearth::virtio
