// --seccomp-filter files: Firecracker's seccompiler JSON, every error naming its line.
#include "vmm/seccomp/policy_file.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "child.h"
#include "tests/unit/error_of.h"
#include "vmm/seccomp/builtin.h"
#include "vmm/seccomp/compile.h"
#include "vmm/seccomp/precompiled.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::seccomp {
namespace {

using ::testing::HasSubstr;
using hearth::test::error_of;

// Every kind but `vcpu`, which the test supplies.
std::string policy_with_vcpu(const std::string& vcpu) {
  return "{\n"
         "  \"vmm\": {\"filter\": []},\n"
         "  \"api\": {\"filter\": []},\n"
         "  \"migration\": {\"filter\": []},\n"
         "  \"vcpu\": " + vcpu + "\n"
         "}\n";
}

std::string parse_error(const std::string& text) { return error_of([&] { parse_policy(text, "p.json"); }); }

TEST(PolicyFile, AcceptsFirecrackersFormat) {
  const Policy p = parse_policy(policy_with_vcpu(R"({
    "default_action": "trap",
    "filter_action": "allow",
    "filter": [
      {"syscall": "read"},
      {"syscall": "ioctl", "comment": "KVM_RUN", "args": [{"index": 1, "type": "dword", "op": "eq", "val": 44672}]},
      {"syscall": "mmap", "args": [{"index": 2, "type": "qword", "op": {"masked_eq": 4}, "val": 0}]},
      {"syscall": "getppid", "action": {"errno": 1}},
      {"syscall": "tgkill", "args": [{"index": 0, "op": "eq", "val": "self_pid"}]}
    ]})"), "p.json");
  const Filter& f = p.at("vcpu");
  ASSERT_EQ(f.rules.size(), 5u);
  EXPECT_TRUE(f.rules[4].args[0].own_pid);
  EXPECT_EQ(f.rules[1].args[0].value, 44672u);
  EXPECT_TRUE(f.rules[1].args[0].dword);
  EXPECT_EQ(f.rules[2].args[0].op, CmpOp::kMaskedEq);
  EXPECT_EQ(f.rules[2].args[0].mask, 4u);
  EXPECT_EQ(f.rules[3].action.kind, Action::Kind::kErrno);
  EXPECT_EQ(f.default_action.kind, Action::Kind::kTrap);
}

TEST(PolicyFile, ErrorsNameTheLine) {
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": [\n  {\"syscall\": \"read\"},\n  {\"syscall\": \"no_such_call\"}\n]}")),
            "p.json:7: unknown syscall 'no_such_call'");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": [], \"defualt_action\": \"trap\"}")),
            "p.json:5: unknown field 'defualt_action'");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": [{\"syscall\": \"ioctl\", \"args\": [\n{\"index\": 9, \"op\": \"eq\", \"val\": 1}]}]}")),
            "p.json:6: 'index' must be an argument number 0-5");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": [{\"syscall\": \"ioctl\", \"args\": [{\"index\": 1,\n \"op\": \"like\", \"val\": 1}]}]}")),
            "p.json:6: 'op' must be eq, ne, lt, le, gt, ge or {\"masked_eq\": MASK}");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"default_action\": \"explode\", \"filter\": []}")),
            "p.json:5: unknown action 'explode' (allow, trap, kill_process, kill_thread, log or {\"errno\": N})");
  EXPECT_EQ(parse_error("{\"vmm\": {\"filter\": []}, \"api\": {\"filter\": []}, \"vcpu\": {\"filter\": []}}"),
            "p.json:1: no filter for thread kind 'migration'");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": []},\n  \"io\": {\"filter\": []}")),
            "p.json:6: unknown thread kind 'io' (vmm, api, vcpu, migration)");
  EXPECT_EQ(parse_error(policy_with_vcpu("{\"filter\": [{\"syscall\": \"ioctl\", \"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": \"eq\",\n \"val\": 4294967296}]}]}")),
            "p.json:6: 'val' does not fit a dword");
  EXPECT_THAT(parse_error("{\n\"vmm\": {\"filter\": [\n}"), HasSubstr("p.json:3: parse error"));
  EXPECT_EQ(parse_error("[]"), "p.json:1: the policy must be an object");
}

TEST(PolicyFile, MissingFileIsNamed) {
  EXPECT_THAT(error_of([] { read_policy_file("/nonexistent/policy.json"); }), HasSubstr("/nonexistent/policy.json"));
}

TEST(PolicyFile, BuiltinPolicyRoundTripsThroughTheFormat) {
  const Policy builtin = builtin_policy();
  const Policy again = parse_policy(policy_to_json(builtin).dump(2), "builtin.json");
  ASSERT_EQ(again.size(), builtin.size());
  for (const auto& [kind, f] : builtin) {
    const BpfProgram a = compile(again.at(kind), kind);
    const BpfProgram b = compile(f, kind);
    ASSERT_EQ(a.size(), b.size()) << kind;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)), 0) << kind;
  }
}

// The build-time programs hearth installs are exactly what compiling the built-in policy gives.
TEST(PolicyFile, PrecompiledBuiltinProgramsMatchTheBuiltinPolicy) {
  const Policy builtin = builtin_policy();
  const PrecompiledPolicy& pre = precompiled_builtin_policy();
  const ThreadKind kinds[] = {ThreadKind::kVmm, ThreadKind::kApi, ThreadKind::kVcpu, ThreadKind::kMigration};
  for (size_t i = 0; i < std::size(kinds); ++i) {
    const BpfProgram fresh = compile(builtin.at(kind_name(kinds[i])), kind_name(kinds[i]));
    const BpfProgram patched = instantiate(pre, i, static_cast<uint32_t>(::getpid()));
    ASSERT_EQ(patched.size(), fresh.size()) << kind_name(kinds[i]);
    for (size_t j = 0; j < fresh.size(); ++j) {
      const sock_filter a = patched[j], b = fresh[j];
      if (a.code != b.code || a.jt != b.jt || a.jf != b.jf || a.k != b.k) {
        ADD_FAILURE() << kind_name(kinds[i]) << " instruction " << j << ": precompiled {" << a.code << ","
                      << int(a.jt) << "," << int(a.jf) << "," << std::hex << a.k << "} fresh {" << std::dec
                      << b.code << "," << int(b.jt) << "," << int(b.jf) << "," << std::hex << b.k << "}";
        break;
      }
    }
    EXPECT_EQ(std::memcmp(patched.data(), fresh.data(), fresh.size() * sizeof(sock_filter)), 0)
        << kind_name(kinds[i]);
  }
}

TEST(PolicyFile, AUserPolicyIsWhatTheThreadGets) {
  // A policy whose vcpu filter answers getppid with EPERM and allows only what exiting needs.
  char path[] = "/tmp/hearth-policy-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string allow_all = R"({"default_action": "allow", "filter": []})";
  const std::string text = "{\"vmm\": " + allow_all + ", \"api\": " + allow_all + ", \"migration\": " + allow_all +
                           ", \"vcpu\": {\"default_action\": {\"errno\": 1}, \"filter\": [{\"syscall\": \"exit_group\"}, "
                           "{\"syscall\": \"write\"}]}}";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  const std::string file = path;
  test::ChildResult r = test::run_in_child([&] {
    set_policy({.enabled = true, .filter_file = file});
    install_thread_filter(ThreadKind::kVcpu);
    if (::syscall(SYS_getppid) != -1 || errno != EPERM) ::syscall(SYS_exit_group, 3);
    ::syscall(SYS_exit_group, 0);
  });
  ::unlink(path);
  EXPECT_FALSE(r.signaled) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace hearth::seccomp
