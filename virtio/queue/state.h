#pragma once
// Snapshot of one split virtqueue: the driver's configuration and the device's ring positions.
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace hearth::virtio {

struct QueueState {
  uint16_t max_size = 0;
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc_table = 0;
  uint64_t avail_ring = 0;
  uint64_t used_ring = 0;
  uint16_t next_avail = 0;
  uint16_t next_used = 0;
  uint16_t signalled_used = 0;
  bool signalled_used_valid = false;
  bool event_idx = false;
  bool indirect = false;
  bool broken = false;
  bool operator==(const QueueState&) const = default;
};

void to_json(nlohmann::json& j, const QueueState& s);
void from_json(const nlohmann::json& j, QueueState& s);

}  // namespace hearth::virtio
