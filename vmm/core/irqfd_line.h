#pragma once
// An IrqLine backed by a KVM irqfd: trigger() injects the GSI without a vCPU exit.
#include <cstdint>

#include "devices/irq.h"
#include "vmm/base/eventfd.h"
#include "vmm/kvm/kvm.h"

namespace hearth {

class IrqFdLine final : public IrqLine {
 public:
  IrqFdLine(const kvm::Vm& vm, uint32_t gsi) : gsi_(gsi) { vm.register_irqfd(event_.fd(), gsi); }
  void trigger() override { event_.signal(); }
  uint32_t gsi() const { return gsi_; }

 private:
  EventFd event_;
  uint32_t gsi_;
};

}  // namespace hearth
