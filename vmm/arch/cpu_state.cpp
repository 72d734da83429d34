#include "vmm/arch/cpu_state.h"

#include "vmm/base/error.h"

namespace hearth::arch {

std::vector<uint32_t> saveable_msrs(const kvm::Kvm& kvm, const kvm::Vcpu& vcpu) {
  std::vector<uint32_t> listed = kvm.msr_index_list();
  std::vector<uint32_t> readable;
  // KVM_GET_MSRS stops at the first MSR it cannot read: keep what it read, skip that one, go on.
  size_t next = 0;
  while (next < listed.size()) {
    std::vector<uint32_t> batch(listed.begin() + static_cast<std::ptrdiff_t>(next), listed.end());
    const size_t read = vcpu.get_msrs(batch).size();
    readable.insert(readable.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(read));
    next += read + 1;
  }
  return readable;
}

VcpuState save_vcpu(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& msr_indices) {
  VcpuState s;
  // mp_state first: KVM_GET_MP_STATE also flushes pending interrupt state into the LAPIC.
  s.mp_state = vcpu.get_mp_state();
  s.regs = vcpu.get_regs();
  s.sregs = vcpu.get_sregs();
  s.xsave = vcpu.get_xsave();
  s.xcrs = vcpu.get_xcrs();
  s.debugregs = vcpu.get_debugregs();
  s.lapic = vcpu.get_lapic();
  s.events = vcpu.get_vcpu_events();
  s.msrs = vcpu.get_msrs(msr_indices);
  if (s.msrs.size() != msr_indices.size()) {
    throw Error(fmt::format("vCPU {}: could only read {} of {} MSRs", vcpu.id(), s.msrs.size(), msr_indices.size()));
  }
  return s;
}

void restore_vcpu(const kvm::Vcpu& vcpu, const VcpuState& s) {
  vcpu.set_sregs(s.sregs);  // before MSRs: EFER and the APIC base shape what the MSRs mean
  vcpu.set_msrs(s.msrs);
  vcpu.set_regs(s.regs);
  vcpu.set_xsave(s.xsave);
  vcpu.set_xcrs(s.xcrs);
  vcpu.set_debugregs(s.debugregs);
  vcpu.set_lapic(s.lapic);
  vcpu.set_mp_state(s.mp_state);
  vcpu.set_vcpu_events(s.events);
}

KvmVmState save_vm(const kvm::Vm& vm) {
  KvmVmState s;
  s.pit = vm.get_pit2();
  s.clock = vm.get_clock();
  s.pic_master = vm.get_irqchip(KVM_IRQCHIP_PIC_MASTER);
  s.pic_slave = vm.get_irqchip(KVM_IRQCHIP_PIC_SLAVE);
  s.ioapic = vm.get_irqchip(KVM_IRQCHIP_IOAPIC);
  return s;
}

void restore_vm(const kvm::Vm& vm, const KvmVmState& s) {
  vm.set_pit2(s.pit);
  kvm_clock_data clock = s.clock;
  clock.flags = 0;  // only the clock value is settable
  vm.set_clock(clock);
  vm.set_irqchip(s.pic_master);
  vm.set_irqchip(s.pic_slave);
  vm.set_irqchip(s.ioapic);
}

}  // namespace hearth::arch
