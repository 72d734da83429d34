#pragma once
// A paused VM's SavedState (vCPUs, KVM and every device) as the migration stream carries it: the same
// JSON a snapshot state file holds, so snapshots and migration share one serializer.
#include <nlohmann/json.hpp>

#include "vmm/core/vmm.h"

namespace hearth::migration {

nlohmann::json saved_state_json(const SavedState& state);
// Throws Error naming the field that is missing or malformed.
SavedState parse_saved_state(const nlohmann::json& j);

}  // namespace hearth::migration
