#pragma once
// A virtio device kind as the builder sees it: its configuration side, the prefix of its counters,
// and how to build the device from its validated section.
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "devices/model/device.h"
#include "virtio/device.h"
#include "vmm/base/event_loop.h"
#include "vmm/config/device_kind.h"

namespace hearth::virtio {

struct BuiltDevice {
  std::shared_ptr<VirtioDevice> virtio;
  std::shared_ptr<Device> model;  // the same object, seen through the common interface
};

struct VirtioDeviceKind {
  DeviceConfigKind config;
  std::string_view metrics_prefix;  // "entropy." -> entropy.entropy_bytes
  BuiltDevice (*build)(const nlohmann::json& section, EventLoop* loop);
};

}  // namespace hearth::virtio
