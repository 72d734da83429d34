#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

Policy builtin_policy() {
  Policy p;
  auto make = [](std::vector<Rule> own) {
    Filter f;
    f.rules = common_rules();
    append(f.rules, own);
    return f;
  };
  p["api"] = make(api_rules());
  p["vcpu"] = make(vcpu_rules());
  p["migration"] = make(migration_rules());
  // The vmm filter is installed first and so also governs the threads it starts: it must allow
  // their syscalls too (each of them then adds its own, narrower filter).
  std::vector<Rule> vmm = vmm_rules();
  append(vmm, api_rules());
  append(vmm, vcpu_rules());
  append(vmm, migration_rules());
  p["vmm"] = make(vmm);
  return p;
}

}  // namespace hearth::seccomp
