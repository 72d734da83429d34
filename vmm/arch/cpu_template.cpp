#include "vmm/arch/cpu_template.h"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/arch/cpuid.h"
#include "vmm/base/error.h"

namespace hearth::arch {
namespace {

uint32_t& reg_of(kvm_cpuid_entry2& e, CpuidRegister r) {
  switch (r) {
    case CpuidRegister::kEax: return e.eax;
    case CpuidRegister::kEbx: return e.ebx;
    case CpuidRegister::kEcx: return e.ecx;
    case CpuidRegister::kEdx: return e.edx;
  }
  return e.eax;
}

}  // namespace

void apply_cpuid_template(kvm::CpuidEntries& entries, const CustomCpuTemplate& t) {
  for (const CpuidLeafModifier& m : t.cpuid_modifiers) {
    auto* e = const_cast<kvm_cpuid_entry2*>(find_cpuid(entries, m.leaf, m.subleaf));
    // find_cpuid ignores the subleaf of an unindexed leaf; a template naming subleaf 1 of one means another leaf.
    if (e != nullptr && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && m.subleaf != 0) e = nullptr;
    if (e == nullptr) {
      throw Error(fmt::format("CPU template: CPUID leaf {:#x} subleaf {:#x} is not available on this host (KVM does "
                              "not report it)", m.leaf, m.subleaf));
    }
    e->flags = m.flags;
    for (const CpuidRegisterModifier& r : m.modifiers) {
      uint32_t& v = reg_of(*e, r.reg);
      v = r.bitmap.apply(v);
    }
  }
}

std::vector<kvm_msr_entry> apply_msr_template(const std::vector<kvm_msr_entry>& current, const CustomCpuTemplate& t) {
  std::vector<kvm_msr_entry> out;
  for (const MsrModifier& m : t.msr_modifiers) {
    auto it = std::find_if(current.begin(), current.end(), [&](const kvm_msr_entry& e) { return e.index == m.addr; });
    if (it == current.end()) {
      throw Error(fmt::format("CPU template: MSR {:#x} is not available on this host (KVM cannot read it)", m.addr));
    }
    out.push_back(kvm_msr_entry{m.addr, 0, m.bitmap.apply(it->data)});
  }
  return out;
}

void set_template_msrs(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& available, const CustomCpuTemplate& t) {
  if (t.msr_modifiers.empty()) return;
  std::vector<kvm_msr_entry> current;
  for (const MsrModifier& m : t.msr_modifiers) {
    if (std::find(available.begin(), available.end(), m.addr) == available.end()) {
      throw Error(fmt::format("CPU template: MSR {:#x} is not available on this host (not in KVM's MSR list)", m.addr));
    }
    // One at a time: KVM_GET_MSRS stops at the first MSR it cannot read.
    for (const kvm_msr_entry& e : vcpu.get_msrs({m.addr})) current.push_back(e);
  }
  const auto wanted = apply_msr_template(current, t);
  vcpu.set_msrs(wanted);
}

}  // namespace hearth::arch
