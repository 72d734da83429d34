#pragma once
// Firecracker's "vsock" section and PUT /vsock: {"guest_cid", "uds_path", "vsock_id" (deprecated)}.
#include "virtio/device_kind.h"

namespace hearth::virtio::vsock {

const VirtioDeviceKind& vsock_kind();

}  // namespace hearth::virtio::vsock
