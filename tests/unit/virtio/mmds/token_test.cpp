#include "virtio/net/mmds/token.h"

#include <set>

#include <gtest/gtest.h>

namespace hearth::virtio::net::mmds {
namespace {

using namespace std::chrono_literals;

TEST(MmdsToken, ValidUntilItsTtl) {
  TokenAuthority tokens;
  const auto t0 = TokenAuthority::Clock::time_point{} + 1000s;
  std::string token = tokens.generate(5, t0);
  EXPECT_GE(token.size(), 40u);
  EXPECT_TRUE(tokens.is_valid(token, t0 + 4s));
  EXPECT_FALSE(tokens.is_valid(token, t0 + 5s));
  EXPECT_FALSE(tokens.is_valid(token + "x", t0));
  EXPECT_FALSE(tokens.is_valid("", t0));
}

TEST(MmdsToken, DistinctAndBounded) {
  TokenAuthority tokens;
  const auto t0 = TokenAuthority::Clock::time_point{} + 1000s;
  std::set<std::string> seen;
  std::string first = tokens.generate(100, t0);
  std::string last;
  for (size_t i = 0; i < TokenAuthority::kMaxTokens * 3; ++i) seen.insert(last = tokens.generate(100, t0));
  EXPECT_EQ(seen.size(), TokenAuthority::kMaxTokens * 3);
  EXPECT_LE(tokens.live_tokens(), TokenAuthority::kMaxTokens);
  EXPECT_FALSE(tokens.is_valid(first, t0));  // the oldest gave way
  EXPECT_TRUE(tokens.is_valid(last, t0));
}

}  // namespace
}  // namespace hearth::virtio::net::mmds
