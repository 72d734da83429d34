#include "virtio/rate_limiter/rate_limiter.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/virtio/fake_clock.h"

namespace hearth::virtio {
namespace {

using test::FakeClock;
using R = TokenBucket::Reduction;

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

RateLimiterConfig ops_limit(const TokenBucketConfig& ops) {
  RateLimiterConfig cfg;
  cfg.ops = ops;
  return cfg;
}
RateLimiterConfig bandwidth_limit(const TokenBucketConfig& bandwidth) {
  RateLimiterConfig cfg;
  cfg.bandwidth = bandwidth;
  return cfg;
}

TEST(TokenBucket, ZeroSizeOrRefillMeansNoBucket) {
  FakeClock clock;
  EXPECT_FALSE(TokenBucket::create(0, 0, 100, clock));
  EXPECT_FALSE(TokenBucket::create(100, 0, 0, clock));
  EXPECT_TRUE(TokenBucket::create(100, 0, 100, clock));
}

// Idle time while full (a guest still booting) is no credit: after draining the full bucket, the next
// token takes its refill time, however long the bucket sat full before.
TEST(TokenBucket, TimeSpentFullIsNotCredit) {
  FakeClock clock;
  auto b = *TokenBucket::create(1000, 0, 1000, clock);
  clock.advance_ms(5000);
  EXPECT_EQ(b.reduce(1000), R::kSuccess);
  EXPECT_EQ(b.reduce(1), R::kFailure);
  clock.advance_ms(100);
  EXPECT_EQ(b.reduce(100), R::kSuccess);
  EXPECT_EQ(b.reduce(1), R::kFailure);
}

TEST(TokenBucket, ConsumesUntilEmptyThenRefillsLinearly) {
  FakeClock clock;
  auto b = *TokenBucket::create(1000, 0, 1000, clock);  // 1 token per ms
  EXPECT_EQ(b.reduce(600), R::kSuccess);
  EXPECT_EQ(b.reduce(400), R::kSuccess);
  EXPECT_EQ(b.budget(), 0u);
  EXPECT_EQ(b.reduce(1), R::kFailure);
  clock.advance_ms(250);
  EXPECT_EQ(b.reduce(251), R::kFailure);  // only 250 came back
  EXPECT_EQ(b.budget(), 250u);
  EXPECT_EQ(b.reduce(250), R::kSuccess);
  clock.advance_ms(5000);                 // long idle: full, never more
  EXPECT_EQ(b.reduce(1001), R::kOverConsumption);
}

TEST(TokenBucket, FractionalRefillCarriesOver) {
  FakeClock clock;
  auto b = *TokenBucket::create(1000, 0, 1000, clock);
  ASSERT_EQ(b.reduce(1000), R::kSuccess);
  clock.advance_ns(1'500'000);  // 1.5 tokens
  EXPECT_EQ(b.reduce(2), R::kFailure);
  EXPECT_EQ(b.budget(), 1u);
  clock.advance_ns(500'000);  // the half token left over plus this half make one more
  EXPECT_EQ(b.reduce(2), R::kSuccess);
}

TEST(TokenBucket, OneTimeBurstIsSpentFirstAndNeverRefills) {
  FakeClock clock;
  auto b = *TokenBucket::create(100, 500, 1000, clock);
  EXPECT_EQ(b.reduce(450), R::kSuccess);
  EXPECT_EQ(b.one_time_burst(), 50u);
  EXPECT_EQ(b.budget(), 100u);
  EXPECT_EQ(b.reduce(120), R::kSuccess);  // 50 from the burst, 70 from the budget
  EXPECT_EQ(b.one_time_burst(), 0u);
  EXPECT_EQ(b.budget(), 30u);
  clock.advance_ms(10'000);
  EXPECT_EQ(b.reduce(100), R::kSuccess);
  EXPECT_EQ(b.one_time_burst(), 0u);
  EXPECT_EQ(b.reduce(1), R::kFailure);
}

TEST(TokenBucket, OverConsumptionDrainsAndReportsWait) {
  FakeClock clock;
  auto b = *TokenBucket::create(100, 0, 1000, clock);
  EXPECT_EQ(b.reduce(300), R::kOverConsumption);  // 200 beyond the full budget
  EXPECT_EQ(b.budget(), 0u);
  EXPECT_EQ(b.over_consumption_wait_ms(), 2000u);
}

TEST(TokenBucket, ReplenishIsCappedAtInitialAmounts) {
  FakeClock clock;
  auto b = *TokenBucket::create(100, 0, 1000, clock);
  ASSERT_EQ(b.reduce(40), R::kSuccess);
  b.replenish(1000);
  EXPECT_EQ(b.budget(), 100u);
  auto burst = *TokenBucket::create(100, 50, 1000, clock);
  ASSERT_EQ(burst.reduce(10), R::kSuccess);
  burst.replenish(1000);
  EXPECT_EQ(burst.one_time_burst(), 50u);
}

TEST(TokenBucket, SaveRestoreKeepsBudgetAndElapsedTime) {
  FakeClock clock;
  auto b = *TokenBucket::create(1000, 0, 1000, clock);
  ASSERT_EQ(b.reduce(1000), R::kSuccess);
  clock.advance_ms(100);
  auto s = b.save();
  EXPECT_EQ(s.elapsed_ns, 100'000'000u);
  FakeClock later;
  later.advance_ms(12345);
  auto r = *TokenBucket::restore(s, later);
  later.advance_ms(100);
  EXPECT_EQ(r.reduce(200), R::kSuccess);  // 100 ms before the snapshot + 100 ms after
  EXPECT_EQ(r.reduce(1), R::kFailure);
}

TEST(RateLimiter, UnlimitedAlwaysConsumes) {
  RateLimiter rl;
  EXPECT_TRUE(rl.consume(UINT64_MAX, TokenType::kBytes));
  EXPECT_TRUE(rl.consume(UINT64_MAX, TokenType::kOps));
  EXPECT_FALSE(rl.is_blocked());
}

TEST(RateLimiter, BlocksUntilTimerFires) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter rl(ops_limit({2, 0, 1000}), clock);
  EXPECT_TRUE(rl.consume(1, TokenType::kOps));
  EXPECT_TRUE(rl.consume(1, TokenType::kOps));
  EXPECT_FALSE(rl.consume(1, TokenType::kOps));
  EXPECT_TRUE(rl.is_blocked());
  EXPECT_FALSE(rl.consume(1, TokenType::kBytes));  // blocked for everything: keeps request order
  EXPECT_FALSE(rl.on_timer());                      // not fired yet: spurious
  ASSERT_TRUE(readable_within(rl.timer_fd(), 1000));
  EXPECT_TRUE(rl.on_timer());
  EXPECT_FALSE(rl.is_blocked());
  clock->advance_ms(500);
  EXPECT_TRUE(rl.consume(1, TokenType::kOps));
}

TEST(RateLimiter, OverConsumptionPassesButBlocks) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter rl(bandwidth_limit({100, 0, 10}), clock);
  EXPECT_TRUE(rl.consume(150, TokenType::kBytes));
  EXPECT_TRUE(rl.is_blocked());
  ASSERT_TRUE(readable_within(rl.timer_fd(), 1000));
  EXPECT_TRUE(rl.on_timer());
}

TEST(RateLimiter, ManualReplenishAndUpdates) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter rl(ops_limit({1, 0, 1000}), clock);
  ASSERT_TRUE(rl.consume(1, TokenType::kOps));
  rl.manual_replenish(1, TokenType::kOps);
  EXPECT_TRUE(rl.consume(1, TokenType::kOps));
  rl.update_buckets(BucketUpdate::set({10, 0, 1000}), BucketUpdate::disable());
  EXPECT_FALSE(rl.ops());
  ASSERT_TRUE(rl.bandwidth());
  EXPECT_EQ(rl.bandwidth()->size(), 10u);
  EXPECT_TRUE(rl.consume(1000, TokenType::kOps));
  rl.update_buckets(BucketUpdate::keep(), BucketUpdate::keep());
  EXPECT_TRUE(rl.bandwidth());
}

TEST(RateLimiter, StateRoundTripsThroughJson) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter rl(bandwidth_limit({4096, 100, 50}), clock);
  ASSERT_TRUE(rl.consume(1000, TokenType::kBytes));
  const RateLimiterState s = rl.save();
  nlohmann::json j = s;
  EXPECT_TRUE(j["ops"].is_null());
  const auto back = j.get<RateLimiterState>();
  EXPECT_EQ(back, s);
  RateLimiter other({}, clock);
  other.restore(back);
  ASSERT_TRUE(other.bandwidth());
  EXPECT_EQ(other.bandwidth()->budget(), 4096u - 900u);
}

}  // namespace
}  // namespace hearth::virtio
