#pragma once
// Snapshot payload of a vsock device (DeviceState::data, version 1). Connections are not saved: as in
// Firecracker (and the spec's transport reset), a restored guest is told they are gone.
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace hearth::virtio::vsock {

inline constexpr uint32_t kStateVersion = 1;

struct VsockState {
  uint64_t acked_features = 0;
  uint64_t guest_cid = 0;
  bool operator==(const VsockState&) const = default;
};

void to_json(nlohmann::json& j, const VsockState& s);
void from_json(const nlohmann::json& j, VsockState& s);

}  // namespace hearth::virtio::vsock
