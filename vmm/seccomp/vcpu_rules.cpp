// vCPU threads: KVM_RUN, and what device register accesses do on the calling thread (serial output,
// interrupt lines, waking the VMM thread through eventfds, log lines).
#include <linux/kvm.h>

#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

std::vector<Rule> vcpu_rules() {
  std::vector<Rule> r = {
      allow("poll"),  // the serial console waits (bounded) for a full stdout pipe to drain
      openat_fails(),
  };
  allow_values(r, "ioctl", 1, {KVM_RUN, KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS}, true);
  return r;
}

}  // namespace hearth::seccomp
