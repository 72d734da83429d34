// JSON form of the rate limiter snapshot.
#include <nlohmann/json.hpp>

#include "virtio/rate_limiter/rate_limiter.h"

namespace hearth::virtio {
namespace {

nlohmann::json bucket_json(const TokenBucketState& b) {
  return {{"size", b.size},
          {"initial_one_time_burst", b.initial_one_time_burst},
          {"refill_time_ms", b.refill_time_ms},
          {"one_time_burst", b.one_time_burst},
          {"budget", b.budget},
          {"elapsed_ns", b.elapsed_ns}};
}

std::optional<TokenBucketState> bucket_from(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  const auto& b = j.at(key);
  TokenBucketState s;
  b.at("size").get_to(s.size);
  b.at("initial_one_time_burst").get_to(s.initial_one_time_burst);
  b.at("refill_time_ms").get_to(s.refill_time_ms);
  b.at("one_time_burst").get_to(s.one_time_burst);
  b.at("budget").get_to(s.budget);
  b.at("elapsed_ns").get_to(s.elapsed_ns);
  return s;
}

}  // namespace

void to_json(nlohmann::json& j, const RateLimiterState& s) {
  j = nlohmann::json::object();
  j["bandwidth"] = s.bandwidth ? bucket_json(*s.bandwidth) : nlohmann::json(nullptr);
  j["ops"] = s.ops ? bucket_json(*s.ops) : nlohmann::json(nullptr);
}

void from_json(const nlohmann::json& j, RateLimiterState& s) {
  s.bandwidth = bucket_from(j, "bandwidth");
  s.ops = bucket_from(j, "ops");
}

}  // namespace hearth::virtio
