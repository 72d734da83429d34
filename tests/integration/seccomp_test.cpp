// hearth's per-thread seccomp filters from the outside: every thread filtered by default, none with
// --no-seccomp (unless HEARTH_SECCOMP_REQUIRE=1), each kind killed by SIGSYS for a call outside its
// list with a log line naming it, a compromised VMM's escape calls killed, and --seccomp-filter files.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using nlohmann::json;

// Sets an environment variable for this scope: hearth children inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;  // restored, so the test mode's own setting survives
};

ProcessOptions with_timeout(int ms) {
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(ms);
  return o;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string field(const std::string& status, const std::string& name) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":\t", 0) == 0) return line.substr(name.size() + 2);
  }
  return "<none>";
}

// thread name -> its Seccomp mode, for a running hearth whose guest waits in ctrl-alt-del.
std::map<std::string, std::string> seccomp_by_thread(const std::vector<std::string>& extra_args) {
  TempDir dir;
  const std::string sock = (dir.path() / "api.sock").string();
  std::vector<std::string> argv = {hearth_binary(), "--api-sock", sock};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  BackgroundProcess p(argv, with_timeout(60000));
  std::map<std::string, std::string> modes;
  if (!wait_for_socket(sock, 10000)) return modes;
  ApiClient api(sock);
  api.put("/boot-source", json{{"kernel_image_path", testguest_elf()}, {"boot_args", "console=ttyS0 testguest.run=ctrl-alt-del"}}.dump());
  api.put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 64})");
  api.put("/actions", R"({"action_type": "InstanceStart"})");
  if (!p.wait_for_output("CAD READY", 30000)) return modes;
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", p.pid()))) {
    const std::string status = read_text(task.path().string() + "/status");
    modes[field(status, "Name")] = field(status, "Seccomp");
  }
  api.put("/actions", R"({"action_type": "SendCtrlAltDel"})");
  p.wait();
  return modes;
}

TEST(Seccomp, EveryThreadIsFilteredByDefault) {
  HEARTH_REQUIRE_KVM();
  const auto modes = seccomp_by_thread({});
  for (const char* name : {"fc_vmm", "fc_api", "fc_vcpu 0", "fc_vcpu 1"}) EXPECT_TRUE(modes.count(name)) << name;
  // Every task, KVM's own workers in the process (kvm-nx-lpage-recovery) included.
  for (const auto& [name, mode] : modes) EXPECT_EQ(mode, "2") << name;
}

TEST(Seccomp, NoSeccompLeavesThreadsUnfilteredUnlessTheTestModeRequiresFilters) {
  HEARTH_REQUIRE_KVM();
  const char* mode_env = std::getenv("HEARTH_SECCOMP_REQUIRE");
  if (mode_env && std::string(mode_env) == "1") {
    std::printf("SKIP part: running under HEARTH_SECCOMP_REQUIRE=1, --no-seccomp cannot turn filters off\n");
  } else {
    for (const auto& [name, mode] : seccomp_by_thread({"--no-seccomp"})) EXPECT_EQ(mode, "0") << name;
  }
  ScopedEnv require("HEARTH_SECCOMP_REQUIRE", "1");
  const auto forced = seccomp_by_thread({"--no-seccomp"});
  EXPECT_GE(forced.size(), 4u);
  for (const auto& [name, mode] : forced) EXPECT_EQ(mode, "2") << name;
}

struct Violation {
  const char* hook;    // HEARTH_SECCOMP_SELFTEST
  const char* thread;  // the name in the log line
  const char* kind;
  const char* syscall;
};

class SeccompViolation : public ::testing::TestWithParam<Violation> {};

// The hook makes the named thread kind issue the call right after its filter is on, as code
// compromised by the guest (vcpu) or a client (api) would.
TEST_P(SeccompViolation, KilledBySigsysAndTheLogNamesTheCall) {
  HEARTH_REQUIRE_KVM();
  const Violation v = GetParam();
#ifdef HEARTH_TEST_SANITIZED
  if (std::string(v.hook).rfind("vmm:ptrace", 0) == 0) GTEST_SKIP() << "SKIP (ASan build): LeakSanitizer needs ptrace";
#endif
  ScopedEnv hook("HEARTH_SECCOMP_SELFTEST", v.hook);
  TempDir dir;
  const std::string sock = (dir.path() / "api.sock").string();
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=boot");
  ProcessResult r = run_process({hearth_binary(), "--config-file", dir.write("vm.json", config.dump()), "--api-sock", sock},
                                with_timeout(30000));
  SCOPED_TRACE(r.err);
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.signal, SIGSYS);
  EXPECT_THAT(r.err, HasSubstr(fmt::format("hearth: seccomp: thread '{}' ({} filter) made syscall '{}'", v.thread, v.kind,
                                           v.syscall)));
}

// Firecracker's seccomp.num_faults: 0 in the lines of a healthy process, and a last line with 1
// written by the SIGSYS handler, so a supervisor that reads only metrics sees the kill.
TEST(SeccompMetrics, TheMetricsFileCountsTheFaultThatKilledTheProcess) {
  HEARTH_REQUIRE_KVM();
  ScopedEnv hook("HEARTH_SECCOMP_SELFTEST", "vcpu:execve:/bin/sh:0:0");
  TempDir dir;
  const std::string metrics = (dir.path() / "metrics.json").string();
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=boot");
  config["metrics"] = {{"metrics_path", metrics}};
  ProcessResult r = run_process({hearth_binary(), "--no-api", "--config-file", dir.write("vm.json", config.dump())},
                                with_timeout(30000));
  SCOPED_TRACE(r.err);
  ASSERT_TRUE(r.signaled);
  ASSERT_EQ(r.signal, SIGSYS);
  std::ifstream in(metrics);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["seccomp"]["num_faults"], 1);
  EXPECT_TRUE(lines.back()["utc_timestamp_ms"].is_number_unsigned());
  for (size_t i = 0; i + 1 < lines.size(); ++i) EXPECT_EQ(lines[i]["seccomp"]["num_faults"], 0) << lines[i].dump();
}

INSTANTIATE_TEST_SUITE_P(
    EachThreadKind, SeccompViolation,
    ::testing::Values(Violation{"vcpu:execve:/bin/sh:0:0", "fc_vcpu 0", "vcpu", "execve"},
                      Violation{"api:socket:1:1:0", "fc_api", "api", "socket"},  // AF_UNIX: the API thread makes none
                      Violation{"vmm:execve:/bin/sh:0:0", "fc_vmm", "vmm", "execve"},
                      // What a compromised VMM would try to get out: none is in any list.
                      Violation{"vmm:ptrace:16:1:0:0", "fc_vmm", "vmm", "ptrace"},
                      Violation{"vmm:mount:/proc:/tmp:/proc:0:0", "fc_vmm", "vmm", "mount"},
                      Violation{"vmm:finit_module:0:/:0", "fc_vmm", "vmm", "finit_module"},
                      Violation{"vmm:socket:17:3:0", "fc_vmm", "vmm", "socket"},  // AF_PACKET, SOCK_RAW
                      Violation{"vcpu:socket:1:1:0", "fc_vcpu 0", "vcpu", "socket"}),
    [](const ::testing::TestParamInfo<Violation>& p) {
      std::string name = std::string(p.param.kind) + "_" + p.param.syscall;
      return name + "_" + std::to_string(p.index);
    });

std::string builtin_policy_json() {
  ProcessResult r = run_process({HEARTH_SECCOMP_POLICY});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(SeccompFilterFlag, ABadPolicyFileIsOneLineNamingTheLine) {
  TempDir dir;
  const std::string file = dir.write("policy.json", "{\n  \"vmm\": {\"filter\": [\n    {\"syscall\": \"frobnicate\"}\n  ]}\n}\n");
  ProcessResult r = run_process({hearth_binary(), "--api-sock", (dir.path() / "s").string(), "--seccomp-filter", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, fmt::format("hearth: error: {}:3: unknown syscall 'frobnicate'\n", file));
  ProcessResult missing = run_process({hearth_binary(), "--api-sock", (dir.path() / "s").string(), "--seccomp-filter",
                                       (dir.path() / "none.json").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.json"));
}

TEST(SeccompFilterFlag, TheBuiltinPolicyAsAFileBootsAndATighterOneKills) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string builtin = dir.write("builtin.json", builtin_policy_json());
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=boot");
  const std::string vm = dir.write("vm.json", config.dump());
  ProcessResult ok = run_process({hearth_binary(), "--config-file", vm, "--no-api", "--seccomp-filter", builtin});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("TESTGUEST PASS"));
  // The same policy without the vCPU's ioctl rules: the first KVM_RUN is fatal.
  json policy = json::parse(read_text(builtin));
  json& vcpu_rules = policy["vcpu"]["filter"];
  for (auto it = vcpu_rules.begin(); it != vcpu_rules.end();) {
    it = (*it)["syscall"] == "ioctl" ? vcpu_rules.erase(it) : it + 1;
  }
  const std::string tight = dir.write("tight.json", policy.dump(2));
  ProcessResult killed = run_process({hearth_binary(), "--config-file", vm, "--no-api", "--seccomp-filter", tight});
  EXPECT_TRUE(killed.signaled) << killed.err;
  EXPECT_EQ(killed.signal, SIGSYS);
  EXPECT_THAT(killed.err, HasSubstr("thread 'fc_vcpu 0' (vcpu filter) made syscall 'ioctl'"));
}

}  // namespace
}  // namespace hearth::test
