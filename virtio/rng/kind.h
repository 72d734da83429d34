#pragma once
// Firecracker's "entropy" section and PUT /entropy: {"rate_limiter": {...}} builds one virtio-rng.
#include "virtio/device_kind.h"

namespace hearth::virtio::rng {

const VirtioDeviceKind& entropy_kind();

}  // namespace hearth::virtio::rng
