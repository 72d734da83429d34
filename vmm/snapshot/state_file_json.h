#pragma once
// The state file's body: StateFile <-> its JSON object. Only state_file.cpp uses this; the framing
// (magic, version, lengths, CRC) lives there.
#include <nlohmann/json.hpp>

#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {

nlohmann::json state_to_json(const StateFile& state);
// Every field checked by name ("state.memory[1].size: ..."); throws Error.
StateFile state_from_json(const nlohmann::json& body, uint32_t format_version);

}  // namespace hearth::snapshot
