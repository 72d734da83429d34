#pragma once
// KVM's vCPU and VM state as JSON, for snapshot files and the migration stream. KVM's structs are
// plain bytes whose layout is fixed by the kernel ABI, so each is stored as hex of exactly its size;
// MSRs are a list of {index, data}. A wrong size or a malformed field throws Error naming it.
#include <nlohmann/json.hpp>

#include "vmm/arch/cpu_state.h"

namespace hearth::arch {

void to_json(nlohmann::json& j, const VcpuState& s);
void from_json(const nlohmann::json& j, VcpuState& s);
void to_json(nlohmann::json& j, const KvmVmState& s);
void from_json(const nlohmann::json& j, KvmVmState& s);

}  // namespace hearth::arch
