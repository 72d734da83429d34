#pragma once
// A virtio device kind as the builder sees it: its configuration side, the prefix of its counters,
// and how to build the device from its validated section.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "devices/model/device.h"
#include "virtio/device.h"
#include "vmm/base/event_loop.h"
#include "vmm/config/device_kind.h"

namespace hearth::virtio {
namespace net::mmds {
class Service;  // virtio/net/mmds/service.h
}

struct BuiltDevice {
  std::shared_ptr<VirtioDevice> virtio;
  std::shared_ptr<Device> model;  // the same object, seen through the common interface
  std::string metrics_prefix;     // empty: the kind's prefix ("net.eth0." for one of several)
};

// What a build may use besides its section.
struct BuildContext {
  EventLoop* loop = nullptr;
  std::string instance_id;                    // the body's id for a multi-instance kind, else empty
  std::shared_ptr<net::mmds::Service> mmds;  // the VM's metadata service; null when there is none
};

struct VirtioDeviceKind {
  DeviceConfigKind config;
  std::string_view metrics_prefix;  // "entropy." -> entropy.entropy_bytes
  // `section` is one instance's body.
  BuiltDevice (*build)(const nlohmann::json& section, const BuildContext& context);
};

}  // namespace hearth::virtio
