#include "vmm/seccomp/compile.h"

#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include <memory>
#include <set>
#include <utility>

#include "vmm/base/error.h"
#include "vmm/base/fd.h"

namespace hearth::seccomp {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

uint32_t to_scmp(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kAllow: return SCMP_ACT_ALLOW;
    case Action::Kind::kErrno: return SCMP_ACT_ERRNO(static_cast<uint16_t>(a.errno_value));
    case Action::Kind::kTrap: return SCMP_ACT_TRAP;
    case Action::Kind::kKillProcess: return SCMP_ACT_KILL_PROCESS;
    case Action::Kind::kKillThread: return SCMP_ACT_KILL_THREAD;
    case Action::Kind::kLog: return SCMP_ACT_LOG;
  }
  return SCMP_ACT_KILL_PROCESS;
}

scmp_arg_cmp to_scmp(const ArgCheck& check, uint32_t own_pid) {
  ArgCheck c = check;
  if (c.own_pid) c.value = own_pid;
  scmp_arg_cmp out{};
  out.arg = c.index;
  out.datum_a = c.value;
  switch (c.op) {
    case CmpOp::kEq: out.op = SCMP_CMP_EQ; break;
    case CmpOp::kNe: out.op = SCMP_CMP_NE; break;
    case CmpOp::kLt: out.op = SCMP_CMP_LT; break;
    case CmpOp::kLe: out.op = SCMP_CMP_LE; break;
    case CmpOp::kGt: out.op = SCMP_CMP_GT; break;
    case CmpOp::kGe: out.op = SCMP_CMP_GE; break;
    case CmpOp::kMaskedEq:
      out.op = SCMP_CMP_MASKED_EQ;
      out.datum_a = c.mask;
      out.datum_b = c.value;
      break;
  }
  // The kernel reads an int argument's low 32 bits only; compare just those, so junk in the upper
  // half can neither sneak a value past nor break an allowed call.
  if (c.dword && c.op == CmpOp::kEq) {
    out.op = SCMP_CMP_MASKED_EQ;
    out.datum_a = 0xffffffffu;
    out.datum_b = c.value & 0xffffffffu;
  }
  return out;
}

std::string describe_args(const Rule& r) {
  std::string s;
  for (const ArgCheck& c : r.args) {
    s += fmt::format("{}:{}:{}:{}:{}:{};", c.index, static_cast<int>(c.op), c.value, c.mask, c.dword, c.own_pid);
  }
  return s;
}

std::string describe(const Rule& r) {
  std::string s = "'" + r.syscall + "'";
  for (const ArgCheck& c : r.args) s += fmt::format(" arg{}", c.index);
  return s;
}

}  // namespace

int syscall_number(const std::string& name) {
  const int nr = seccomp_syscall_resolve_name(name.c_str());
  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

BpfProgram compile(const Filter& filter, const std::string& what) {
  return compile(filter, what, static_cast<uint32_t>(::getpid()));
}

BpfProgram compile(const Filter& filter, const std::string& what, uint32_t own_pid) {
  Ctx ctx(seccomp_init(to_scmp(filter.default_action)));
  if (!ctx) throw Error(what + ": seccomp_init failed");
  // We load the program ourselves (load() sets no_new_privs); libseccomp only compiles.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  // Kinds share rules (the vmm filter holds its children's): drop repeats and rules that an
  // unconditional one for the same syscall and action already covers; libseccomp refuses both.
  std::set<std::pair<std::string, uint32_t>> unconditional;
  for (const Rule& rule : filter.rules) {
    if (rule.args.empty()) unconditional.insert({rule.syscall, to_scmp(rule.action)});
  }
  std::set<std::string> seen;
  for (const Rule& rule : filter.rules) {
    const std::string key = fmt::format("{}/{}/{}", rule.syscall, to_scmp(rule.action), describe_args(rule));
    if (!seen.insert(key).second) continue;
    if (!rule.args.empty() && unconditional.count({rule.syscall, to_scmp(rule.action)})) continue;
    const int nr = syscall_number(rule.syscall);
    if (nr < 0) throw Error(fmt::format("{}: unknown syscall '{}'", what, rule.syscall));
    std::vector<scmp_arg_cmp> cmps;
    for (const ArgCheck& c : rule.args) {
      if (c.index > 5) throw Error(fmt::format("{}: syscall '{}': argument index {} is not 0-5", what, rule.syscall, c.index));
      cmps.push_back(to_scmp(c, own_pid));
    }
    if (to_scmp(rule.action) == to_scmp(filter.default_action)) continue;  // libseccomp refuses a no-op rule
    const int rc = seccomp_rule_add_exact_array(ctx.get(), to_scmp(rule.action), nr,
                                                static_cast<unsigned>(cmps.size()), cmps.data());
    if (rc < 0) throw Error(fmt::format("{}: rule {} refused by libseccomp: {}", what, describe(rule), std::strerror(-rc)));
  }
  // libseccomp 2.5 exports to an fd only; a memfd keeps it off the file system.
  UniqueFd mem(::memfd_create("hearth-seccomp", MFD_CLOEXEC));
  if (!mem) throw_errno(what + ": memfd_create");
  if (int rc = seccomp_export_bpf(ctx.get(), mem.get()); rc < 0) {
    throw Error(fmt::format("{}: seccomp_export_bpf: {}", what, std::strerror(-rc)));
  }
  const off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) throw Error(what + ": bad BPF export");
  BpfProgram prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), prog.data(), static_cast<size_t>(size), 0) != size) throw_errno(what + ": reading the BPF export");
  return prog;
}

void load(const BpfProgram& program) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = const_cast<sock_filter*>(program.data());
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) throw_errno("seccomp(SECCOMP_SET_MODE_FILTER)");
}

}  // namespace hearth::seccomp
