#pragma once
// Snapshot payload of a virtio-rng device (DeviceState::data, version 1). Its queue lives in the
// transport's state.
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "virtio/rate_limiter/rate_limiter.h"

namespace hearth::virtio::rng {

inline constexpr uint32_t kStateVersion = 1;

struct RngState {
  uint64_t acked_features = 0;
  RateLimiterState rate_limiter;
  bool operator==(const RngState&) const = default;
};

void to_json(nlohmann::json& j, const RngState& s);
void from_json(const nlohmann::json& j, RngState& s);

}  // namespace hearth::virtio::rng
