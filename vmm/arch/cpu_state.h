#pragma once
// Everything KVM holds for a vCPU and for the VM's in-kernel devices, as plain structs, so a paused VM
// can be saved and restored (snapshots, live migration).
#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "vmm/kvm/kvm.h"

namespace hearth::arch {

struct VcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm::XsaveArea xsave{};  // x87/SSE/AVX state (a superset of KVM_GET_FPU)
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  kvm_lapic_state lapic{};
  kvm_mp_state mp_state{};
  kvm_vcpu_events events{};
  std::vector<kvm_msr_entry> msrs;
};

struct KvmVmState {
  kvm_clock_data clock{};
  kvm_irqchip pic_master{};
  kvm_irqchip pic_slave{};
  kvm_irqchip ioapic{};
  kvm_pit_state2 pit{};
};

// The MSRs worth saving: those KVM lists that this vCPU can actually read (some listed ones cannot
// be read on a given host, e.g. feature-dependent ones).
std::vector<uint32_t> saveable_msrs(const kvm::Kvm& kvm, const kvm::Vcpu& vcpu);

// The vCPU must not be running (paused or not yet started).
VcpuState save_vcpu(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& msr_indices);
// Restores in the order KVM needs: MSRs and special registers before the LAPIC, events last.
void restore_vcpu(const kvm::Vcpu& vcpu, const VcpuState& state);

KvmVmState save_vm(const kvm::Vm& vm);
void restore_vm(const kvm::Vm& vm, const KvmVmState& state);

}  // namespace hearth::arch
