#pragma once
// Configuration of the virtio-rng (entropy) device: the device's own type, filled by the VMM from
// PUT /entropy or the config file's "entropy" object.
#include <optional>

#include "vmm/config/vm_config.h"

namespace hearth::virtio::rng {

struct EntropyDeviceConfig {
  // Bytes bucket (bandwidth) and ops bucket; none means unlimited.
  std::optional<RateLimiterConfig> rate_limiter;
};

}  // namespace hearth::virtio::rng
