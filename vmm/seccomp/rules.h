#pragma once
// A seccomp policy as data: per thread kind, the syscalls it may make and, where it matters, the
// argument values. Built-in lists (vmm/seccomp/*_rules.cpp) and user policy files (policy_file.h)
// both produce this; compile.h turns it into BPF.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hearth::seccomp {

enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };

// One comparison of syscall argument `index` (0-5). kMaskedEq: (arg & mask) == value.
struct ArgCheck {
  unsigned index = 0;
  CmpOp op = CmpOp::kEq;
  uint64_t value = 0;
  uint64_t mask = 0;
  bool dword = false;  // compare only the low 32 bits (ioctl requests, flags the kernel reads as int)
  bool own_pid = false;  // `value` is the compiling process's pid ("val": "self_pid" in a policy file)
};

// What happens to a syscall: allowed, failed with an errno, or the filter's default.
struct Action {
  enum class Kind { kAllow, kErrno, kTrap, kKillProcess, kKillThread, kLog };
  Kind kind = Kind::kAllow;
  int errno_value = 0;
  bool operator==(const Action&) const = default;
};

// `syscall` is allowed when every check holds (no checks: always). Several rules for one syscall
// are alternatives.
struct Rule {
  std::string syscall;
  std::vector<ArgCheck> args;
  Action action{};  // kAllow unless a rule says otherwise (clone3 answers ENOSYS, for example)
};

struct Filter {
  Action default_action{Action::Kind::kTrap, 0};  // SIGSYS: our handler logs the call, then the process dies
  std::vector<Rule> rules;
};

// Keyed by thread kind name ("vmm", "api", "vcpu", "migration").
using Policy = std::map<std::string, Filter>;

// Helpers for writing allow-lists.
inline Rule allow(std::string name) { return Rule{std::move(name), {}, {}}; }
inline Rule allow_if(std::string name, std::vector<ArgCheck> args) { return Rule{std::move(name), std::move(args), {}}; }
inline ArgCheck arg_eq(unsigned index, uint64_t value) { return ArgCheck{index, CmpOp::kEq, value, 0, false}; }
inline ArgCheck arg_eq32(unsigned index, uint64_t value) { return ArgCheck{index, CmpOp::kEq, value, 0, true}; }
inline ArgCheck arg_masked(unsigned index, uint64_t mask, uint64_t value) {
  return ArgCheck{index, CmpOp::kMaskedEq, value, mask, false};
}
// One rule per value: `name` allowed when argument `index` equals any of `values`.
void allow_values(std::vector<Rule>& rules, const std::string& name, unsigned index,
                  const std::vector<uint64_t>& values, bool dword = false);
void append(std::vector<Rule>& to, const std::vector<Rule>& from);
// For threads that open no files: openat fails with EACCES instead of killing the process. glibc's
// malloc opens /proc/sys/vm/overcommit_memory once, from whichever thread first trims a heap, and
// copes with a failed open (it then never shrinks heaps); the thread still opens nothing.
Rule openat_fails();

}  // namespace hearth::seccomp
