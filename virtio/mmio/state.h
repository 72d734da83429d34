#pragma once
// Snapshot of a virtio-mmio transport: registers, negotiated features and every queue.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "virtio/queue/state.h"

namespace hearth::virtio::mmio {

struct TransportState {
  uint32_t device_type = 0;
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint32_t queue_sel = 0;
  uint64_t driver_features = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  bool needs_reset = false;
  std::vector<QueueState> queues;
  bool operator==(const TransportState&) const = default;
};

void to_json(nlohmann::json& j, const TransportState& s);
void from_json(const nlohmann::json& j, TransportState& s);

}  // namespace hearth::virtio::mmio
