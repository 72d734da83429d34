#pragma once
// Firecracker's rate_limiter object ({"bandwidth"|"ops": {size, one_time_burst, refill_time}}), read
// and written the same way by drives and by every device kind that has one.
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/config/vm_config.h"

namespace hearth {

// Throws Error("<context>.<field>: ...").
// One bucket ({size, one_time_burst, refill_time}), as PUT /serial's rate_limiter is.
TokenBucketConfig parse_token_bucket(const nlohmann::json& j, std::string_view context);
RateLimiterConfig parse_rate_limiter(const nlohmann::json& j, std::string_view context);
nlohmann::json to_json(const RateLimiterConfig& limiter);

}  // namespace hearth
