#pragma once
// One network interface as PUT /network-interfaces/{iface_id} or the config file's array describes it.
#include <cstdint>
#include <optional>
#include <string>

#include "virtio/net/mac.h"
#include "vmm/config/vm_config.h"

namespace hearth::virtio::net {

struct NetConfig {
  std::string iface_id;
  std::string host_dev_name;
  std::optional<MacAddr> guest_mac;  // offered with VIRTIO_NET_F_MAC when set
  std::optional<uint16_t> mtu;       // offered with VIRTIO_NET_F_MTU when set
  std::optional<RateLimiterConfig> rx_rate_limiter;
  std::optional<RateLimiterConfig> tx_rate_limiter;
};

}  // namespace hearth::virtio::net
