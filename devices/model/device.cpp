#include "devices/model/device.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth {

void to_json(nlohmann::json& j, const DeviceState& s) {
  j = nlohmann::json{{"kind", s.kind}, {"id", s.id}, {"version", s.version}, {"data", s.data}};
}

void from_json(const nlohmann::json& j, DeviceState& s) {
  j.at("kind").get_to(s.kind);
  j.at("id").get_to(s.id);
  j.at("version").get_to(s.version);
  s.data = j.at("data");
}

void Device::api_patch(std::string_view sub, const nlohmann::json&) {
  throw Error(fmt::format("{}: PATCH{} is not supported", kind(), sub.empty() ? "" : fmt::format(" of {}", sub)));
}

nlohmann::json Device::api_get(std::string_view sub) const {
  throw Error(fmt::format("{}: GET{} is not supported", kind(), sub.empty() ? "" : fmt::format(" of {}", sub)));
}

void check_state_header(const DeviceState& state, std::string_view kind, uint32_t max_version) {
  const std::string who = state.id.empty() ? std::string(kind) : fmt::format("{} '{}'", kind, state.id);
  if (state.kind != kind) throw Error(fmt::format("{}: saved state is for a '{}' device", who, state.kind));
  if (state.version < 1 || state.version > max_version) {
    throw Error(fmt::format("{}: state version {} is not supported (this build reads 1..{})", who, state.version,
                            max_version));
  }
}

void export_counter(metrics::Registry& registry, const std::string& name, uint64_t value) {
  metrics::Counter& counter = registry.counter(name);
  const uint64_t seen = counter.get();
  if (value > seen) counter.add(value - seen);
}

}  // namespace hearth
