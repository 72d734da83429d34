#include "vmm/seccomp/rules.h"

#include <cerrno>

namespace hearth::seccomp {

void allow_values(std::vector<Rule>& rules, const std::string& name, unsigned index,
                  const std::vector<uint64_t>& values, bool dword) {
  for (uint64_t v : values) rules.push_back(allow_if(name, {ArgCheck{index, CmpOp::kEq, v, 0, dword}}));
}

void append(std::vector<Rule>& to, const std::vector<Rule>& from) { to.insert(to.end(), from.begin(), from.end()); }

Rule openat_fails() { return Rule{"openat", {}, Action{Action::Kind::kErrno, EACCES}}; }

}  // namespace hearth::seccomp
