// The test guest boots under Hearth and reports what it was given.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGapStart = 0xD0000000;  // vmm/arch/layout.h kMmioGapStart

std::vector<std::string> expected_e820(uint64_t mem_mib) {
  auto line = [](uint64_t start, uint64_t end, const char* type) {
    return fmt::format("e820: [mem {:#018x}-{:#018x}] {}", start, end - 1, type);
  };
  const uint64_t mem = mem_mib * kMiB;
  std::vector<std::string> lines = {line(0, 0x9fc00, "usable"), line(0x9fc00, 0x100000, "reserved"),
                                    line(0x100000, std::min(mem, kGapStart), "usable")};
  if (mem > kGapStart) lines.push_back(line(0x100000000, 0x100000000 + mem - kGapStart, "usable"));
  return lines;
}

struct BootCase {
  uint32_t vcpus;
  uint32_t mem_mib;
  const char* protocol;  // "linux" (64-bit Linux entry) or "pvh"
};

void PrintTo(const BootCase& c, std::ostream* os) {
  *os << c.vcpus << " vCPUs, " << c.mem_mib << " MiB, " << c.protocol;
}

class TestGuestBoot : public ::testing::TestWithParam<BootCase> {};

TEST_P(TestGuestBoot, ReportsWhatHearthConfigured) {
  HEARTH_REQUIRE_KVM();
  const BootCase c = GetParam();
  const std::string cmdline = fmt::format("console=ttyS0 testguest.run=boot case={}x{}", c.vcpus, c.mem_mib);
  auto config = testguest_config(c.vcpus, c.mem_mib, cmdline);
  config["boot-source"]["boot_protocol"] = c.protocol;
  ProcessResult r = run_hearth_config(config, {"--level", "Info"});
  SCOPED_TRACE("stdout:\n" + r.out + "\nstderr:\n" + r.err);

  ASSERT_FALSE(r.timed_out);
  ASSERT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_TRUE(lines_with_prefix(r.out, "TESTGUEST FAIL").empty());
  const std::string boot = std::string("TESTGUEST START boot=") + (c.protocol == std::string("pvh") ? "pvh" : "linux64");
  EXPECT_EQ(lines_with_prefix(r.out, boot).size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "cmdline: "), std::vector<std::string>{"cmdline: " + cmdline});
  EXPECT_EQ(value_of(r.out, "cpus"), std::to_string(c.vcpus));
  EXPECT_EQ(value_of(r.out, "hypervisor"), "KVMKVMKVM");
  EXPECT_EQ(value_of(r.out, "ioapic"), "0xfec00000");
  EXPECT_EQ(lines_with_prefix(r.out, "e820: "), expected_e820(c.mem_mib));
  EXPECT_EQ(value_of(r.out, "ram_total_mib"), std::to_string(c.mem_mib - 1));  // the EBDA hole costs < 1 MiB
  EXPECT_EQ(lines_with_prefix(r.out, "memtest: ok").size(), 1u);
  for (const auto& table : lines_with_prefix(r.out, "acpi: table ")) EXPECT_NE(table.find("checksum=ok"), std::string::npos) << table;
  for (const char* sig : {"FACP", "APIC", "DSDT"}) {
    bool found = false;
    for (const auto& t : lines_with_prefix(r.out, "acpi: table ")) found |= t.find(sig) != std::string::npos;
    EXPECT_TRUE(found) << sig << " table missing";
  }
}

INSTANTIATE_TEST_SUITE_P(VcpusAndMemory, TestGuestBoot,
                         ::testing::Values(BootCase{1, 128, "linux"}, BootCase{2, 1024, "linux"},
                                           BootCase{4, 4096, "linux"}, BootCase{4, 128, "linux"},
                                           BootCase{1, 4096, "linux"}, BootCase{2, 1024, "pvh"},
                                           BootCase{4, 4096, "pvh"}),
                         [](const auto& param_info) {
                           return fmt::format("{}vcpu_{}mib_{}", param_info.param.vcpus, param_info.param.mem_mib,
                                              param_info.param.protocol);
                         });

// CPUID topology as the boot vCPU sees it, with SMT off and on.
TEST(TestGuestCpuid, TopologyFollowsVcpuCountAndSmt) {
  HEARTH_REQUIRE_KVM();
  for (bool smt : {false, true}) {
    auto config = testguest_config(4, 128, "console=ttyS0");
    config["machine-config"]["smt"] = smt;
    ProcessResult r = run_hearth_config(config);
    SCOPED_TRACE(r.out + r.err);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(lines_with_prefix(r.out, "topology: "),
              std::vector<std::string>{fmt::format("topology: apic_id=0 smt_threads={} logical=4 x2apic_id=0", smt ? 2 : 1)});
  }
}

TEST(TestGuestSelfTests, SerialRegistersBehaveLike16550A) {
  HEARTH_REQUIRE_KVM();
  ProcessResult r = run_hearth_config(testguest_config(1, 128, "console=ttyS0 testguest.run=serial"));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST(TestGuestSelfTests, StdinReachesTheGuestSerialPort) {
  HEARTH_REQUIRE_KVM();
  ProcessOptions opts;
  opts.stdin_data = "hello from the host\n";
  opts.stdin_after_output = "ECHO READY";  // input before the guest's UART init is lost, as on hardware
  ProcessResult r = run_hearth_config(testguest_config(1, 128, "console=ttyS0 testguest.run=serial-echo"), {}, opts);
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "ECHO hello from the host").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST(TestGuestSelfTests, FailureIsReportedNotHidden) {
  HEARTH_REQUIRE_KVM();
  ProcessResult r = run_hearth_config(testguest_config(1, 128, "console=ttyS0 testguest.run=fail"));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);  // the guest reset cleanly; its verdict is on the console
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST FAIL requested").size(), 1u);
  EXPECT_TRUE(lines_with_prefix(r.out, "TESTGUEST PASS").empty());
}

TEST(TestGuestBootTimer, BootTimeIsLogged) {
  HEARTH_REQUIRE_KVM();
  ProcessResult r = run_hearth_config(testguest_config(1, 128, "console=ttyS0"), {"--boot-timer", "--level", "Info"});
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("Guest-boot-time ="), std::string::npos);
}

TEST(Lifecycle, SigtermStopsARunningGuestCleanly) {
  HEARTH_REQUIRE_KVM();
  ProcessOptions opts;
  opts.signal_after_ms = 0;
  opts.wait_for_output = "TESTGUEST START";
  opts.timeout = std::chrono::milliseconds(20000);
  ProcessResult r =
      run_hearth_config(testguest_config(2, 128, "console=ttyS0 testguest.hold_ms=60000"), {"--level", "Info"}, opts);
  SCOPED_TRACE(r.out + r.err);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(lines_with_prefix(r.out, "TESTGUEST PASS").empty());  // stopped before the guest finished
}

TEST(Lifecycle, AConsoleReaderThatStopsReadingCannotWedgeTheVmm) {
  HEARTH_REQUIRE_KVM();
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);  // never read: fills after 64 KiB
  ProcessOptions opts;
  opts.stdout_fd = pipe_fds[1];
  opts.signal_after_ms = 8000;  // the guest (~40 µs a byte here) filled the 64 KiB pipe long before
  opts.timeout = std::chrono::milliseconds(30000);
  ProcessResult r = run_hearth_config(testguest_config(1, 128, "console=ttyS0 testguest.run=spam testguest.spam_kib=1024"),
                                      {"--level", "Info"}, opts);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_FALSE(r.timed_out) << "hearth hung on a full console";
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("received signal 15"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth::test
