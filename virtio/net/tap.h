#pragma once
// A host TAP opened by name on /dev/net/tun: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR with a 12-byte
// header (virtio 1.0 with num_buffers), non-blocking. Closing the fd detaches from the interface.
#include <cstdint>
#include <string>
#include <string_view>

#include "virtio/net/backend.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::net {

class Tap final : public Backend {
 public:
  // Throws Error("<why>") when the TAP cannot be opened (no permission, busy, bad name).
  static Tap open(std::string_view name);

  int fd() const override { return fd_.get(); }
  void set_offload(uint64_t guest_features) override;
  const std::string& name() const { return name_; }

 private:
  Tap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  UniqueFd fd_;
  std::string name_;
};

// TUN_F_* bits for the offloads the guest negotiated.
unsigned tap_offload_flags(uint64_t guest_features);

}  // namespace hearth::virtio::net
