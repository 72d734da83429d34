#pragma once
// Two token buckets (bytes and ops) in front of a device. When one runs dry the limiter blocks
// and arms a one-shot timerfd; the device registers timer_fd() in the EventLoop and resumes its
// queue when it fires (on_timer()). No spinning, no sleeping on the VMM thread.
#include <cstdint>
#include <memory>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "virtio/rate_limiter/clock.h"
#include "virtio/rate_limiter/token_bucket.h"
#include "vmm/base/fd.h"
#include "vmm/config/vm_config.h"

namespace hearth::virtio {

enum class TokenType { kBytes, kOps };

// PATCH semantics for one bucket: leave it, remove it, or replace it.
struct BucketUpdate {
  enum class Kind { kKeep, kDisable, kSet };
  Kind kind = Kind::kKeep;
  TokenBucketConfig config;
  static BucketUpdate keep() { return {}; }
  static BucketUpdate disable() { return {Kind::kDisable, {}}; }
  static BucketUpdate set(const TokenBucketConfig& c) { return {Kind::kSet, c}; }
};

struct RateLimiterState {
  std::optional<TokenBucketState> bandwidth;
  std::optional<TokenBucketState> ops;
  bool operator==(const RateLimiterState&) const = default;
};

void to_json(nlohmann::json& j, const RateLimiterState& s);
void from_json(const nlohmann::json& j, RateLimiterState& s);

class RateLimiter {
 public:
  // How long to wait after a plain "not enough tokens" before trying again (as Firecracker).
  static constexpr uint64_t kRefillTimerMs = 100;

  // Unlimited unless the config has buckets; a bucket with size or refill_time 0 is no limit.
  explicit RateLimiter(const RateLimiterConfig& config = {},
                       std::shared_ptr<const Clock> clock = std::make_shared<MonotonicClock>());

  // Takes `tokens` of `type`; false (and blocked until the timer fires) when not enough are left.
  // While blocked every consume() fails, so requests keep their order.
  bool consume(uint64_t tokens, TokenType type);
  // Returns tokens (e.g. the ops token of a request whose bytes were refused).
  void manual_replenish(uint64_t tokens, TokenType type);

  bool is_blocked() const { return blocked_; }
  int timer_fd() const { return timer_.get(); }
  // Call when timer_fd() is readable; false for a spurious wakeup (still blocked).
  bool on_timer();

  void update_buckets(const BucketUpdate& bytes, const BucketUpdate& ops);
  const std::optional<TokenBucket>& bandwidth() const { return bandwidth_; }
  const std::optional<TokenBucket>& ops() const { return ops_; }

  RateLimiterState save() const;
  void restore(const RateLimiterState& state);

 private:
  std::optional<TokenBucket>& bucket(TokenType type) { return type == TokenType::kBytes ? bandwidth_ : ops_; }
  std::optional<TokenBucket> make_bucket(const std::optional<TokenBucketConfig>& config) const;
  void arm_timer(uint64_t ms);

  std::shared_ptr<const Clock> clock_;
  std::optional<TokenBucket> bandwidth_;
  std::optional<TokenBucket> ops_;
  UniqueFd timer_;
  bool blocked_ = false;
};

}  // namespace hearth::virtio
