#include "vmm/config/rate_limiter_json.h"

#include <limits>
#include <string>

#include "vmm/config/json_reader.h"

namespace hearth {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

nlohmann::json to_json(const TokenBucketConfig& b) {
  return {{"size", b.size}, {"one_time_burst", b.one_time_burst}, {"refill_time", b.refill_time_ms}};
}

}  // namespace

TokenBucketConfig parse_token_bucket(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context), {"size", "one_time_burst", "refill_time"});
  TokenBucketConfig b;
  b.size = r.unsigned_int("size", 0, kU64Max);
  b.one_time_burst = r.opt_unsigned_int("one_time_burst", 0, kU64Max).value_or(0);
  b.refill_time_ms = r.unsigned_int("refill_time", 0, kU64Max);
  return b;
}

RateLimiterConfig parse_rate_limiter(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context), {"bandwidth", "ops"});
  RateLimiterConfig l;
  if (const auto* b = r.get("bandwidth")) l.bandwidth = parse_token_bucket(*b, r.path("bandwidth"));
  if (const auto* o = r.get("ops")) l.ops = parse_token_bucket(*o, r.path("ops"));
  return l;
}

nlohmann::json to_json(const RateLimiterConfig& limiter) {
  nlohmann::json j = nlohmann::json::object();
  if (limiter.bandwidth) j["bandwidth"] = to_json(*limiter.bandwidth);
  if (limiter.ops) j["ops"] = to_json(*limiter.ops);
  return j;
}

}  // namespace hearth
