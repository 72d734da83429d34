#include "vmm/arch/cpuid.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace hearth::arch {
namespace {

constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;
constexpr uint32_t kTopologyLevelSmt = 1;
constexpr uint32_t kTopologyLevelCore = 2;

uint32_t ceil_log2(uint32_t n) { return n <= 1 ? 0 : static_cast<uint32_t>(std::bit_width(n - 1)); }

kvm_cpuid_entry2* find_mut(kvm::CpuidEntries& entries, uint32_t function, uint32_t index = 0) {
  return const_cast<kvm_cpuid_entry2*>(find_cpuid(entries, function, index));
}

// Leaf 0xB / 0x1F: subleaf 0 is the SMT level, 1 the core level, then an invalid level.
// Some hosts (AMD through PVM here) report only subleaf 0; the guest gets all three.
void set_extended_topology(kvm::CpuidEntries& entries, uint32_t leaf, uint32_t vcpu_id, const CpuTopology& topo) {
  const uint32_t threads_per_core = topo.smt ? 2 : 1;
  if (find_cpuid(entries, leaf, 0) == nullptr) return;
  for (uint32_t sub = 0; sub <= 2; ++sub) {
    bool present = false;
    for (const auto& e : entries) present |= e.function == leaf && e.index == sub;
    if (!present) {
      kvm_cpuid_entry2 e{};
      e.function = leaf;
      e.index = sub;
      e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      entries.push_back(e);
    }
  }
  for (auto& e : entries) {
    if (e.function != leaf) continue;
    e.edx = vcpu_id;  // x2APIC ID
    switch (e.index) {
      case 0:
        e.eax = ceil_log2(threads_per_core);
        e.ebx = threads_per_core;
        e.ecx = (kTopologyLevelSmt << 8) | e.index;
        break;
      case 1:
        e.eax = ceil_log2(topo.vcpu_count);
        e.ebx = topo.vcpu_count;
        e.ecx = (kTopologyLevelCore << 8) | e.index;
        break;
      default:
        e.eax = 0;
        e.ebx = 0;
        e.ecx = e.index;
        break;
    }
  }
}

bool is_amd(const kvm::CpuidEntries& entries) {
  const kvm_cpuid_entry2* leaf0 = find_cpuid(entries, 0);
  if (!leaf0) return false;
  char vendor[13] = {};
  std::memcpy(vendor, &leaf0->ebx, 4);
  std::memcpy(vendor + 4, &leaf0->edx, 4);
  std::memcpy(vendor + 8, &leaf0->ecx, 4);
  return std::strcmp(vendor, "AuthenticAMD") == 0 || std::strcmp(vendor, "HygonGenuine") == 0;
}

}  // namespace

const kvm_cpuid_entry2* find_cpuid(const kvm::CpuidEntries& entries, uint32_t function, uint32_t index) {
  for (const auto& e : entries) {
    bool indexed = e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    if (e.function == function && (!indexed || e.index == index)) return &e;
  }
  return nullptr;
}

kvm::CpuidEntries normalize_cpuid(const kvm::CpuidEntries& supported, uint32_t vcpu_id, const CpuTopology& topo) {
  kvm::CpuidEntries entries = supported;
  const uint32_t threads_per_core = topo.smt ? 2 : 1;
  const uint32_t cores = std::max(1u, topo.vcpu_count / threads_per_core);

  if (auto* leaf1 = find_mut(entries, 1)) {
    leaf1->ebx &= 0x0000ffffu;
    leaf1->ebx |= (vcpu_id & 0xff) << 24;              // initial APIC ID
    leaf1->ebx |= (topo.vcpu_count & 0xff) << 16;      // logical processors per package
    leaf1->ebx = (leaf1->ebx & ~0xff00u) | (8u << 8);  // CLFLUSH line size: 8 * 8 = 64 bytes
    leaf1->ecx |= kLeaf1EcxHypervisor;
    if (topo.vcpu_count > 1) {
      leaf1->edx |= kLeaf1EdxHtt;
    } else {
      leaf1->edx &= ~kLeaf1EdxHtt;
    }
  }

  // Leaf 4 (Intel deterministic cache parameters): sharing and cores per package.
  for (auto& e : entries) {
    if (e.function != 4) continue;
    const uint32_t level = (e.eax >> 5) & 0x7;
    const uint32_t sharing = level <= 2 ? threads_per_core : topo.vcpu_count;
    e.eax &= 0x3fffu;
    e.eax |= ((sharing - 1) & 0xfff) << 14;
    if (e.eax & 0x1f) e.eax |= ((cores - 1) & 0x3f) << 26;
  }

  set_extended_topology(entries, 0xb, vcpu_id, topo);
  set_extended_topology(entries, 0x1f, vcpu_id, topo);

  // No virtual PMU: architectural performance monitoring reads as absent.
  if (auto* leaf_a = find_mut(entries, 0xa)) {
    leaf_a->eax = leaf_a->ebx = leaf_a->ecx = leaf_a->edx = 0;
  }

  if (is_amd(entries)) {
    if (auto* e = find_mut(entries, 0x80000008)) {
      e->ecx = (e->ecx & ~0xf0ffu) | ((topo.vcpu_count - 1) & 0xff) | (ceil_log2(topo.vcpu_count) << 12);
    }
    if (auto* e = find_mut(entries, 0x8000001e)) {
      e->eax = vcpu_id;                                                  // extended APIC ID
      e->ebx = ((threads_per_core - 1) << 8) | ((vcpu_id / threads_per_core) & 0xff);  // compute unit
      e->ecx = 0;                                                        // one node
    }
  }

  // Hypervisor identity leaf, as KVM guests expect it.
  auto* hv = find_mut(entries, 0x40000000);
  if (!hv) {
    entries.push_back(kvm_cpuid_entry2{});
    hv = &entries.back();
    hv->function = 0x40000000;
  }
  hv->eax = std::max(hv->eax, 0x40000001u);
  std::memcpy(&hv->ebx, "KVMK", 4);
  std::memcpy(&hv->ecx, "VMKV", 4);
  std::memcpy(&hv->edx, "M\0\0\0", 4);
  return entries;
}

}  // namespace hearth::arch
