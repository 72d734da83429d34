#include "vmm/device_manager/device_kinds.h"

#include <vector>

#include "virtio/balloon/kind.h"
#include "virtio/net/kind.h"
#include "virtio/rng/kind.h"
#include "virtio/vsock/kind.h"

namespace hearth {

std::span<const virtio::VirtioDeviceKind* const> virtio_device_kinds() {
  // One line per device kind; the config file, the API and the builder all take it from here.
  static const virtio::VirtioDeviceKind* const kKinds[] = {
      &virtio::rng::entropy_kind(),
      &virtio::vsock::vsock_kind(),
      &virtio::balloon::balloon_kind(),
      &virtio::net::network_interfaces_kind(),
  };
  return kKinds;
}

std::span<const DeviceConfigKind* const> device_config_kinds() {
  static const std::vector<const DeviceConfigKind*> kinds = [] {
    std::vector<const DeviceConfigKind*> out;
    for (const auto* kind : virtio_device_kinds()) out.push_back(&kind->config);
    return out;
  }();
  return kinds;
}

const DeviceConfigKind* find_device_config_kind(std::string_view name) {
  for (const auto* kind : device_config_kinds()) {
    if (kind->name == name) return kind;
  }
  return nullptr;
}

}  // namespace hearth
