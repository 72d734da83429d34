#include "virtio/net/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::net {

void to_json(nlohmann::json& j, const NetState& s) {
  j = nlohmann::json{{"iface_id", s.iface_id},
                     {"host_dev_name", s.host_dev_name},
                     {"guest_mac", s.guest_mac},
                     {"acked_features", s.acked_features},
                     {"rx_rate_limiter", s.rx_rate_limiter},
                     {"tx_rate_limiter", s.tx_rate_limiter}};
}

void from_json(const nlohmann::json& j, NetState& s) {
  j.at("iface_id").get_to(s.iface_id);
  j.at("host_dev_name").get_to(s.host_dev_name);
  j.at("guest_mac").get_to(s.guest_mac);
  j.at("acked_features").get_to(s.acked_features);
  j.at("rx_rate_limiter").get_to(s.rx_rate_limiter);
  j.at("tx_rate_limiter").get_to(s.tx_rate_limiter);
}

}  // namespace hearth::virtio::net
