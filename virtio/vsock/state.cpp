#include "virtio/vsock/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::vsock {

void to_json(nlohmann::json& j, const VsockState& s) {
  j = nlohmann::json{{"acked_features", s.acked_features}, {"guest_cid", s.guest_cid}};
}

void from_json(const nlohmann::json& j, VsockState& s) {
  j.at("acked_features").get_to(s.acked_features);
  j.at("guest_cid").get_to(s.guest_cid);
}

}  // namespace hearth::virtio::vsock
