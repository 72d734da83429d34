#pragma once
// MMDS V2 session tokens: 32 random bytes (getrandom), base64, each with its own expiry. At most kMaxTokens live at once
// (the oldest is forgotten first), so a guest asking for tokens in a loop cannot grow memory.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hearth::virtio::net::mmds {

class TokenAuthority {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint32_t kMinTtlSeconds = 1;
  static constexpr uint32_t kMaxTtlSeconds = 21600;
  static constexpr size_t kMaxTokens = 1024;

  // A new token valid for ttl_seconds (already checked to be in range).
  std::string generate(uint32_t ttl_seconds, Clock::time_point now);
  bool is_valid(std::string_view token, Clock::time_point now) const;
  size_t live_tokens() const { return expiry_.size(); }

 private:
  void expire(Clock::time_point now);

  std::unordered_map<std::string, Clock::time_point> expiry_;
  std::deque<std::string> order_;  // issue order, for the bound
};

}  // namespace hearth::virtio::net::mmds
