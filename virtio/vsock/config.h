#pragma once
// Configuration of the vsock device (PUT /vsock, config-file section "vsock").
#include <cstdint>
#include <string>

namespace hearth::virtio::vsock {

struct VsockConfig {
  uint64_t guest_cid = 0;  // >= 3 (0..2 are reserved by the spec)
  std::string uds_path;    // host-side listening socket; guest connections to port P go to "<uds_path>_P"
};

}  // namespace hearth::virtio::vsock
