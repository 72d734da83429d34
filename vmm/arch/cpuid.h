#pragma once
// Per-vCPU CPUID: what KVM supports, with the topology and identity a guest must see.
#include <cstdint>

#include "vmm/kvm/kvm.h"

namespace hearth::arch {

struct CpuTopology {
  uint32_t vcpu_count = 1;
  bool smt = false;  // two threads per core; vcpu_count must then be 1 or even
};

// Returns the CPUID table for vCPU `vcpu_id` derived from KVM_GET_SUPPORTED_CPUID's `supported`.
kvm::CpuidEntries normalize_cpuid(const kvm::CpuidEntries& supported, uint32_t vcpu_id, const CpuTopology& topo);

// Finds leaf/subleaf in a table, nullptr when absent.
const kvm_cpuid_entry2* find_cpuid(const kvm::CpuidEntries& entries, uint32_t function, uint32_t index = 0);

}  // namespace hearth::arch
