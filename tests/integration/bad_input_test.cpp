// Bad configuration gets one clear line on stderr and a non-zero status, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

// Runs hearth on `config` and checks the failure is a clean one-line error mentioning `expected`.
void expect_clean_error(const nlohmann::json& config, const std::string& expected,
                        const std::vector<std::string>& extra = {}) {
  ProcessResult r = run_hearth_config(config, extra);
  SCOPED_TRACE("stdout:\n" + r.out + "\nstderr:\n" + r.err);
  EXPECT_FALSE(r.signaled) << "crashed with signal " << r.signal;
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(expected), std::string::npos);
  auto errors = lines_with_prefix(r.err, "hearth: error: ");
  EXPECT_EQ(errors.size(), 1u);
}

TEST(BadInput, MissingKernelFile) {
  auto config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"]["kernel_image_path"] = "/nonexistent/vmlinux";
  expect_clean_error(config, "/nonexistent/vmlinux");
}

TEST(BadInput, MissingKernelPathField) {
  auto config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"].erase("kernel_image_path");
  expect_clean_error(config, "kernel_image_path");
}

TEST(BadInput, KernelThatIsNotElfOrBzImage) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  auto config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"]["kernel_image_path"] = dir.write("notakernel", std::string(4096, 'x'));
  expect_clean_error(config, "not an ELF64 x86-64 vmlinux or a bzImage");
}

TEST(BadInput, ZeroVcpus) { expect_clean_error(testguest_config(0, 128, ""), "vcpu_count"); }

TEST(BadInput, TooManyVcpus) { expect_clean_error(testguest_config(33, 128, ""), "vcpu_count"); }

TEST(BadInput, MemoryTooSmallForKernel) {
  HEARTH_REQUIRE_KVM();
  expect_clean_error(testguest_config(1, 1, ""), "mem_size_mib");
}

TEST(BadInput, MemoryTooSmallForTheDebianKernel) {
  HEARTH_REQUIRE_KVM();
  const std::string vmlinux = source_dir() + "/resources/out/vmlinux";
  if (::access(vmlinux.c_str(), R_OK) != 0) GTEST_SKIP() << "SKIP: " << vmlinux << " missing; run resources/fetch-debian-kernel.sh";
  auto config = testguest_config(1, 32, "");
  config["boot-source"]["kernel_image_path"] = vmlinux;
  // Refused either by the file size (53 MB vmlinux) or by its footprint; both name the setting.
  expect_clean_error(config, "machine-config.mem_size_mib");
}

TEST(BadInput, UnknownFieldIsNamed) {
  auto config = testguest_config(1, 128, "");
  config["machine-config"]["vcpus"] = 2;
  expect_clean_error(config, "vcpus");
}

TEST(BadInput, UnusableKvmDevice) {
  expect_clean_error(testguest_config(1, 128, ""), "/nonexistent/kvm", {"--kvm-device", "/nonexistent/kvm"});
}

TEST(BadInput, MalformedJson) {
  TempDir dir;
  ProcessResult r = run_process({hearth_binary(), "--config-file", dir.write("vm.json", "{\"boot-source\": "), "--no-api"});
  EXPECT_FALSE(r.signaled);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("JSON"), std::string::npos) << r.err;
}

TEST(BadInput, NoApiWithoutConfigFile) {
  ProcessResult r = run_process({hearth_binary(), "--no-api"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--no-api requires --config-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth::test
