#pragma once
// Where an interface's frames go: a file descriptor that reads and writes one frame (vnet header
// included) per call, non-blocking. A TAP in production; tests use a SOCK_SEQPACKET socketpair.
#include <cstdint>
#include <string>

namespace hearth::virtio::net {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual int fd() const = 0;
  // Tells the host which offloads the guest accepts on rx (VIRTIO_NET_F_GUEST_* bits).
  virtual void set_offload(uint64_t guest_features) = 0;
};

}  // namespace hearth::virtio::net
