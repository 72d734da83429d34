#pragma once
// An interrupt line a device can raise; backed by a KVM irqfd in the VMM, by a counter in tests.

namespace hearth {

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  // Edge: one interrupt per call.
  virtual void trigger() = 0;
};

}  // namespace hearth
