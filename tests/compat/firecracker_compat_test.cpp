// hearth started and configured the way Firecracker's clients do it: the Go SDK's and the jailer's
// command-line flags, and a config file in the shape of Firecracker's own tests' vm_config.json.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::test {
namespace {

using nlohmann::json;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

ProcessOptions with_timeout(int ms) {
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(ms);
  return o;
}

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

TEST(FirecrackerCompat, GoSdkAndJailerFlagsThenBootThroughTheApi) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string socket = (dir.path() / "api.sock").string();
  const std::string disk = dir.write("rootfs.ext4", std::string(1 << 20, '\0'));
  const std::string id = "3f0b7c2e-5d1a-4c8e-9b6f-2a7d4e1c9f00";
  BackgroundProcess hearth({hearth_binary(), "--api-sock", socket, "--id", id, "--no-seccomp", "--start-time-us",
                            "1700000000000000", "--start-time-cpu-us", "1200", "--parent-cpu-time-us", "3400",
                            "--show-level", "--show-log-origin", "--level", "Info", "--mmds-size-limit", "51200"},
                           with_timeout(60000));
  ASSERT_TRUE(wait_for_socket(socket, 10000)) << "API socket never accepted";
  ApiClient api(socket);
  EXPECT_EQ(json::parse(api.get("/").body)["id"], id);
  // The SDK's readiness probe, then its configuration sequence with Firecracker's null fields.
  EXPECT_EQ(api.get("/machine-config").status, 200);
  EXPECT_EQ(api.put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128, "smt": false,
                                           "cpu_template": "None", "huge_pages": "None"})").status,
            204);
  EXPECT_EQ(api.put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                         {"boot_args", "console=ttyS0 testguest.run=boot"},
                                         {"initrd_path", nullptr}}.dump()).status,
            204);
  EXPECT_EQ(api.put("/drives/rootfs", json{{"drive_id", "rootfs"}, {"path_on_host", disk}, {"is_root_device", true},
                                          {"is_read_only", false}, {"partuuid", nullptr}, {"socket", nullptr},
                                          {"rate_limiter", nullptr}}.dump()).status,
            204);
  EXPECT_EQ(api.put("/serial", "{}").status, 204);
  EXPECT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ProcessResult r = hearth.wait();
  SCOPED_TRACE(r.out + r.err);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  // --show-level and --show-log-origin shape the log line; --start-time-us feeds the startup time.
  EXPECT_NE(r.err.find("[" + id + ":info:main.cpp:"), std::string::npos);
  EXPECT_NE(r.err.find("Process startup time: "), std::string::npos);
}

TEST(FirecrackerCompat, FirecrackerStyleConfigFileWithNullSectionsBoots) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  std::ifstream in(source_dir() + "/tests/compat/data/firecracker_vm_config.json");
  ASSERT_TRUE(in) << "test data missing";
  std::stringstream text;
  text << in.rdbuf();
  const std::string disk = dir.write("rootfs.ext4", std::string(1 << 20, '\0'));
  const std::string config =
      replace_all(replace_all(text.str(), "@KERNEL@", testguest_elf()), "@ROOTFS@", disk);
  const std::string file = dir.write("vm_config.json", config);
  ProcessResult r = run_process({hearth_binary(), "--config-file", file, "--no-api", "--no-seccomp"});
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(value_of(r.out, "cpus"), "2");
  EXPECT_NE(r.out.find("root=/dev/vda rw"), std::string::npos);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST(FirecrackerCompat, VersionFlagsAndDescribeSnapshot) {
  ProcessResult v = run_process({hearth_binary(), "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(nonempty_lines(v.out), std::vector<std::string>{"Hearth v0.1.0"});
  ProcessResult sv = run_process({hearth_binary(), "--snapshot-version"});
  EXPECT_EQ(sv.exit_code, 0);
  EXPECT_EQ(sv.out, "v" + std::to_string(snapshot::kFormatVersion) + "\n");

  TempDir dir;
  snapshot::StateFile state;
  state.hearth_version = "0.1.0";
  state.vm_config = json::object();
  state.machine = json::object();
  const auto bytes = snapshot::encode_state_file(state);
  const std::string path = dir.write("vm.state", std::string(bytes.begin(), bytes.end()));
  ProcessResult d = run_process({hearth_binary(), "--describe-snapshot", path});
  SCOPED_TRACE(d.out + d.err);
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_EQ(nonempty_lines(d.out),
            (std::vector<std::string>{"v" + std::to_string(snapshot::kFormatVersion), "Hearth v0.1.0"}));

  const std::string junk = dir.write("junk.state", "not a snapshot");
  ProcessResult bad = run_process({hearth_binary(), "--describe-snapshot", junk});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(bad.out.empty());
  ASSERT_EQ(nonempty_lines(bad.err).size(), 1u) << bad.err;
  EXPECT_NE(bad.err.find("--describe-snapshot"), std::string::npos) << bad.err;
  ProcessResult missing = run_process({hearth_binary(), "--describe-snapshot", (dir.path() / "none").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(nonempty_lines(missing.err).size(), 1u) << missing.err;
}

TEST(FirecrackerCompat, RefusedFlagsSayWhyInOneLine) {
  TempDir dir;
  const std::string socket = (dir.path() / "api.sock").string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      // Firecracker's --seccomp-filter takes compiled BPF; ours takes JSON (docs/seccomp.md): either way
      // a file that cannot be used is refused, naming it.
      {{"--seccomp-filter", "/nonexistent/filter.bpf"}, "/nonexistent/filter.bpf"},
      {{"--metadata", "/nonexistent/mmds.json"}, "/nonexistent/mmds.json"},
      {{"--enable-pci"}, "--enable-pci: PCI devices are not supported yet"},
      {{"--no-seccomp", "--seccomp-filter", "/tmp/f"}, "--no-seccomp"},
      {{"--mmds-size-limit", "0"}, "--mmds-size-limit"},
      {{"--start-time-us", "soon"}, "--start-time-us"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {hearth_binary(), "--api-sock", socket};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessResult r = run_process(argv, with_timeout(10000));
    SCOPED_TRACE(c.args.front());
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace hearth::test
