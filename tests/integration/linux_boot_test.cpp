// Debian's cloud kernel under Hearth, checked as far as it runs on this host.
//
// On this CI host (/dev/kvm nested through PVM) a stock kernel prints its banner, e820 map and ACPI/MADT
// lines and later stops on a KVM emulation failure, so the test asserts on those lines and then stops the
// VM. On a host with real VT-x the same kernel reaches the initramfs's /init; see resources/README.md.
#include <gtest/gtest.h>

#include <filesystem>

#include <fmt/format.h>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

std::string resource(const std::string& name) { return source_dir() + "/resources/out/" + name; }

struct KernelCase {
  const char* image;  // file in resources/out
  uint32_t vcpus;
  uint32_t mem_mib;
};

// Readable ctest names instead of the struct's bytes.
void PrintTo(const KernelCase& c, std::ostream* os) { *os << c.image << ", " << c.vcpus << " vCPUs, " << c.mem_mib << " MiB"; }

class DebianKernel : public ::testing::TestWithParam<KernelCase> {};

TEST_P(DebianKernel, PrintsBannerCmdlineE820AndAcpi) {
  HEARTH_REQUIRE_KVM();
  const KernelCase c = GetParam();
  if (!std::filesystem::exists(resource(c.image))) {
    GTEST_SKIP() << "SKIP: " << resource(c.image) << " is missing; run resources/fetch-debian-kernel.sh";
  }
  // earlyprintk: the console proper registers after the point where this host stops the kernel.
  const std::string cmdline = "console=ttyS0 earlyprintk=serial,ttyS0 reboot=k panic=1 pci=off hearth.test=1";
  nlohmann::json config = {
      {"boot-source",
       {{"kernel_image_path", resource(c.image)}, {"initrd_path", resource("initramfs.cpio.gz")}, {"boot_args", cmdline}}},
      {"machine-config", {{"vcpu_count", c.vcpus}, {"mem_size_mib", c.mem_mib}}}};

  ProcessOptions opts;
  // Early boot is slow here (~40 s for a vmlinux; a bzImage's decompressor needs ~4 more minutes).
  opts.timeout = std::chrono::milliseconds(c.image == std::string("bzImage") ? 840000 : 300000);
  opts.signal_after_ms = 0;
  // Stop once the MADT has been parsed (or at init on a host where Linux gets that far).
  opts.wait_for_output = fmt::format("smpboot: Allowing {} CPUs, 0 hotplug CPUs", c.vcpus);
  ProcessResult r = run_hearth_config(config, {"--level", "Info"}, opts);
  SCOPED_TRACE("stdout:\n" + r.out + "\nstderr:\n" + r.err);

  ASSERT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_NE(r.out.find("Linux version 6."), std::string::npos);
  EXPECT_NE(r.out.find("Command line: " + cmdline + "\r\n"), std::string::npos);  // the 8250 console writes CRLF
  EXPECT_NE(r.out.find("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"), std::string::npos);
  EXPECT_NE(r.out.find("BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved"), std::string::npos);
  EXPECT_NE(r.out.find(fmt::format("BIOS-e820: [mem 0x0000000000100000-{:#018x}] usable",
                                   uint64_t{c.mem_mib} * 1024 * 1024 - 1)),
            std::string::npos);
  EXPECT_NE(r.out.find("ACPI: RSDP 0x00000000000E0000"), std::string::npos);
  for (const char* table : {"ACPI: XSDT", "ACPI: FACP", "ACPI: DSDT", "ACPI: APIC"}) {
    EXPECT_NE(r.out.find(table), std::string::npos) << table;
  }
  EXPECT_NE(r.out.find("IOAPIC[0]: apic_id 0, version 17, address 0xfec00000, GSI 0-23"), std::string::npos);
  EXPECT_NE(r.out.find("ACPI: Using ACPI (MADT) for SMP configuration information"), std::string::npos);
  EXPECT_NE(r.out.find(fmt::format("smpboot: Allowing {} CPUs, 0 hotplug CPUs", c.vcpus)), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Images, DebianKernel,
                         ::testing::Values(KernelCase{"vmlinux", 2, 256}, KernelCase{"bzImage", 1, 512}),
                         [](const auto& param_info) { return std::string(param_info.param.image); });

}  // namespace
}  // namespace hearth::test
