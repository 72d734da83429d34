#include "virtio/rate_limiter/rate_limiter.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>

#include "vmm/base/error.h"

namespace hearth::virtio {

RateLimiter::RateLimiter(const RateLimiterConfig& config, std::shared_ptr<const Clock> clock)
    : clock_(std::move(clock)), timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!timer_) throw_errno("rate limiter timerfd_create");
  bandwidth_ = make_bucket(config.bandwidth);
  ops_ = make_bucket(config.ops);
}

std::optional<TokenBucket> RateLimiter::make_bucket(const std::optional<TokenBucketConfig>& config) const {
  if (!config) return std::nullopt;
  return TokenBucket::create(config->size, config->one_time_burst, config->refill_time_ms, *clock_);
}

void RateLimiter::arm_timer(uint64_t ms) {
  ms = std::max<uint64_t>(ms, 1);  // an all-zero itimerspec would disarm and leave us blocked forever
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ms / 1000);
  spec.it_value.tv_nsec = static_cast<long>((ms % 1000) * 1'000'000);
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) < 0) throw_errno("rate limiter timerfd_settime");
  blocked_ = true;
}

bool RateLimiter::consume(uint64_t tokens, TokenType type) {
  if (blocked_) return false;
  auto& b = bucket(type);
  if (!b) return true;
  switch (b->reduce(tokens)) {
    case TokenBucket::Reduction::kSuccess: return true;
    case TokenBucket::Reduction::kFailure: arm_timer(kRefillTimerMs); return false;
    case TokenBucket::Reduction::kOverConsumption: arm_timer(b->over_consumption_wait_ms()); return true;
  }
  return false;
}

void RateLimiter::manual_replenish(uint64_t tokens, TokenType type) {
  if (auto& b = bucket(type)) b->replenish(tokens);
}

bool RateLimiter::on_timer() {
  uint64_t expirations = 0;
  if (::read(timer_.get(), &expirations, sizeof(expirations)) != static_cast<ssize_t>(sizeof(expirations))) {
    return false;
  }
  blocked_ = false;
  return true;
}

void RateLimiter::update_buckets(const BucketUpdate& bytes, const BucketUpdate& ops) {
  auto apply = [this](const BucketUpdate& u, std::optional<TokenBucket>& b) {
    if (u.kind == BucketUpdate::Kind::kDisable) b.reset();
    if (u.kind == BucketUpdate::Kind::kSet) b = make_bucket(u.config);
  };
  apply(bytes, bandwidth_);
  apply(ops, ops_);
}

RateLimiterState RateLimiter::save() const {
  RateLimiterState s;
  if (bandwidth_) s.bandwidth = bandwidth_->save();
  if (ops_) s.ops = ops_->save();
  return s;
}

void RateLimiter::restore(const RateLimiterState& s) {
  bandwidth_ = s.bandwidth ? TokenBucket::restore(*s.bandwidth, *clock_) : std::nullopt;
  ops_ = s.ops ? TokenBucket::restore(*s.ops, *clock_) : std::nullopt;
}

}  // namespace hearth::virtio
