#pragma once
// Applying a CPU template (vmm/config/cpu_template.h) to a vCPU's CPUID table and MSRs.
#include <vector>

#include "vmm/config/cpu_template.h"
#include "vmm/kvm/kvm.h"

namespace hearth::arch {

// Firecracker's table for `t`; the empty template for kNone.
const CustomCpuTemplate& static_cpu_template(StaticCpuTemplate t);

// Applies the CPUID modifiers on top of normalize_cpuid's table, as Firecracker does: each modified leaf
// takes the modifier's flags. A leaf/subleaf the table lacks throws an Error naming it.
void apply_cpuid_template(kvm::CpuidEntries& entries, const CustomCpuTemplate& t);

// The MSR values the template asks for, each computed from `current` (the vCPU's values, as KVM_GET_MSRS
// read them). An MSR missing from `current` throws an Error naming it.
std::vector<kvm_msr_entry> apply_msr_template(const std::vector<kvm_msr_entry>& current, const CustomCpuTemplate& t);

// Reads the template's MSRs from the vCPU, applies the modifiers and writes them back (KVM_SET_MSRS).
// `available` is KVM's MSR index list: an MSR outside it throws an Error naming it.
void set_template_msrs(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& available, const CustomCpuTemplate& t);

}  // namespace hearth::arch
