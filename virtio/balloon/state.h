#pragma once
// Snapshot payload of a virtio-balloon device (DeviceState::data, version 1). Its queues live in the
// transport's state.
#include <cstdint>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "virtio/balloon/pages.h"

namespace hearth::virtio::balloon {

inline constexpr uint32_t kStateVersion = 1;

struct BalloonState {
  uint64_t acked_features = 0;
  uint32_t num_pages = 0;  // target, config space
  uint32_t actual = 0;     // what the driver says it holds, config space
  uint16_t stats_polling_interval_s = 0;
  std::optional<uint16_t> stats_head;  // statistics buffer the device holds until the next poll
  BalloonStats stats;
  bool operator==(const BalloonState&) const = default;
};

void to_json(nlohmann::json& j, const BalloonState& s);
void from_json(const nlohmann::json& j, BalloonState& s);

}  // namespace hearth::virtio::balloon
