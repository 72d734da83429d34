#include "virtio/rate_limiter/token_bucket.h"

#include <algorithm>
#include <numeric>

namespace hearth::virtio {
namespace {

__extension__ typedef unsigned __int128 u128;
constexpr uint64_t kNsPerMs = 1'000'000;

}  // namespace

std::optional<TokenBucket> TokenBucket::create(uint64_t size, uint64_t one_time_burst, uint64_t refill_time_ms,
                                               const Clock& clock) {
  if (size == 0 || refill_time_ms == 0 || refill_time_ms > UINT64_MAX / kNsPerMs) return std::nullopt;
  return TokenBucket(size, one_time_burst, refill_time_ms, clock);
}

TokenBucket::TokenBucket(uint64_t size, uint64_t one_time_burst, uint64_t refill_time_ms, const Clock& clock)
    : clock_(&clock),
      size_(size),
      initial_one_time_burst_(one_time_burst),
      refill_time_ms_(refill_time_ms),
      one_time_burst_(one_time_burst),
      budget_(size),
      last_update_ns_(clock.now_ns()) {
  const uint64_t refill_ns = refill_time_ms * kNsPerMs;
  const uint64_t g = std::gcd(size, refill_ns);
  processed_capacity_ = size / g;
  processed_refill_ns_ = refill_ns / g;
}

void TokenBucket::auto_replenish() {
  const uint64_t now = clock_->now_ns();
  const uint64_t delta = now > last_update_ns_ ? now - last_update_ns_ : 0;
  if (delta >= refill_time_ms_ * kNsPerMs) {
    budget_ = size_;
    last_update_ns_ = now;
    return;
  }
  // tokens = delta * size / refill_ns, and only the time those whole tokens stand for is used
  // up (rounded up), so the fractional remainder carries into the next refill.
  const u128 tokens = u128{delta} * processed_capacity_ / processed_refill_ns_;
  const u128 scaled = tokens * processed_refill_ns_;
  const u128 used_ns = scaled / processed_capacity_ + (scaled % processed_capacity_ ? 1 : 0);
  last_update_ns_ += static_cast<uint64_t>(used_ns);
  budget_ = static_cast<uint64_t>(std::min<u128>(u128{budget_} + tokens, size_));
}

TokenBucket::Reduction TokenBucket::reduce(uint64_t tokens) {
  over_wait_ms_ = 0;
  if (one_time_burst_ > 0) {
    if (one_time_burst_ >= tokens) {
      one_time_burst_ -= tokens;
      last_update_ns_ = clock_->now_ns();  // the refill starts once the burst is spent
      return Reduction::kSuccess;
    }
    tokens -= one_time_burst_;
    one_time_burst_ = 0;
  }
  // A full bucket gains nothing by waiting: time spent full (a guest still booting) is not credit, or the
  // first burst after it could pass more than `size` at once.
  if (budget_ == size_) last_update_ns_ = clock_->now_ns();
  if (tokens > budget_) {
    auto_replenish();
    if (tokens > size_) {
      // Never satisfiable by waiting: let it through and make the caller pay with a longer pause.
      const uint64_t excess = tokens - budget_;
      budget_ = 0;
      over_wait_ms_ = static_cast<uint64_t>(u128{excess} * refill_time_ms_ / size_);
      return Reduction::kOverConsumption;
    }
    if (tokens > budget_) return Reduction::kFailure;
  }
  budget_ -= tokens;
  return Reduction::kSuccess;
}

void TokenBucket::replenish(uint64_t tokens) {
  if (one_time_burst_ > 0) {
    one_time_burst_ = std::min(initial_one_time_burst_, one_time_burst_ + std::min(tokens, initial_one_time_burst_));
    return;
  }
  budget_ = std::min(size_, budget_ + std::min(tokens, size_));
}

TokenBucketState TokenBucket::save() const {
  const uint64_t now = clock_->now_ns();
  return TokenBucketState{size_,           initial_one_time_burst_, refill_time_ms_, one_time_burst_, budget_,
                          now > last_update_ns_ ? now - last_update_ns_ : 0};
}

std::optional<TokenBucket> TokenBucket::restore(const TokenBucketState& s, const Clock& clock) {
  auto bucket = create(s.size, s.initial_one_time_burst, s.refill_time_ms, clock);
  if (!bucket) return std::nullopt;
  bucket->one_time_burst_ = std::min(s.one_time_burst, s.initial_one_time_burst);
  bucket->budget_ = std::min(s.budget, s.size);
  const uint64_t now = clock.now_ns();
  bucket->last_update_ns_ = now - std::min(now, s.elapsed_ns);
  return bucket;
}

}  // namespace hearth::virtio
