#pragma once
// The one interface every device model implements, legacy or virtio: who it is, its versioned
// state for snapshots and migration, and its counters. The device manager loops over these; no
// code outside a device's folder needs to know its concrete type to save, restore or report it.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/metrics/registry.h"

namespace hearth {

// A device's saved state: its kind and id (to find the device again on restore), the version of its
// state layout, and the payload. A restore refuses a version it does not know, naming both.
struct DeviceState {
  std::string kind;
  std::string id;
  uint32_t version = 0;
  nlohmann::json data;
};

void to_json(nlohmann::json& j, const DeviceState& s);
void from_json(const nlohmann::json& j, DeviceState& s);

class Device {
 public:
  virtual ~Device() = default;

  // "serial", "i8042", "boot-timer", "virtio-blk", "virtio-rng", ...
  virtual std::string_view kind() const = 0;
  // Distinguishes devices of one kind ("rootfs" for a drive); empty for singletons.
  virtual std::string id() const { return {}; }

  // Only called while the vCPUs are paused. save() must capture everything the guest can observe.
  virtual DeviceState save() const = 0;
  // Throws Error naming the field, or both versions when state.version is not understood.
  virtual void restore(const DeviceState& state) = 0;

  // The runtime API after boot, on the VMM thread: PATCH /<kind>[/<id>][/<sub>] with a body its kind
  // validated, and GET of live values (balloon statistics). Throw Error (a 400) to refuse; the defaults
  // refuse everything.
  virtual void api_patch(std::string_view sub, const nlohmann::json& patch);
  virtual nlohmann::json api_get(std::string_view sub) const;

  // Copies the device's cumulative counters into `registry` under `prefix` ("block.rootfs.").
  virtual void export_metrics(metrics::Registry& registry, const std::string& prefix) const {
    (void)registry;
    (void)prefix;
  }
};

// Throws Error("<kind> '<id>': state version N is not supported (this build reads 1..M)") unless
// 1 <= state.version <= max_version and the kind matches.
void check_state_header(const DeviceState& state, std::string_view kind, uint32_t max_version);

// Sets a cumulative counter to `value` (the registry keeps the last value; only increases count).
void export_counter(metrics::Registry& registry, const std::string& name, uint64_t value);

}  // namespace hearth
