#include "vmm/migration/saved_state_json.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::migration {

nlohmann::json saved_state_json(const SavedState& state) {
  return {{"machine", state.machine}, {"devices", state.devices}};
}

SavedState parse_saved_state(const nlohmann::json& j) {
  try {
    SavedState s;
    s.machine = j.at("machine").get<MachineState>();
    s.devices = j.at("devices").get<std::vector<DeviceState>>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("migration stream: malformed VM state: {}", e.what()));
  }
}

}  // namespace hearth::migration
