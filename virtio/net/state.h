#pragma once
// Snapshot payload of a virtio-net device (DeviceState::data, version 1). Queues live in the
// transport's state; the TAP is re-opened by name when the device is rebuilt from its config.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "virtio/rate_limiter/rate_limiter.h"

namespace hearth::virtio::net {

inline constexpr uint32_t kStateVersion = 1;

struct NetState {
  std::string iface_id;
  std::string host_dev_name;
  std::string guest_mac;  // empty when none was configured
  uint64_t acked_features = 0;
  RateLimiterState rx_rate_limiter;
  RateLimiterState tx_rate_limiter;
  bool operator==(const NetState&) const = default;
};

void to_json(nlohmann::json& j, const NetState& s);
void from_json(const nlohmann::json& j, NetState& s);

}  // namespace hearth::virtio::net
