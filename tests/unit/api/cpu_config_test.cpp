#include "api/cpu_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include <fstream>

#include "api/config_json.h"
#include "tests/unit/error_of.h"

namespace hearth::api {
namespace {

using test::error_of;

nlohmann::json leaf_with_bitmap(const std::string& bitmap) {
  return nlohmann::json::parse(R"({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
      "modifiers": [{"register": "ecx", "bitmap": ")" + bitmap + R"("}]}]})");
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_cpu_config(nlohmann::json::parse(text)); });
}

TEST(CpuConfig, ParsesFirecrackersExample) {
  const auto t = parse_cpu_config(nlohmann::json::parse(R"({
      "cpuid_modifiers": [
        {"leaf": "0x1", "subleaf": "0x0", "flags": 0,
         "modifiers": [{"register": "eax", "bitmap": "0bxxxx000000000011xx00011011110010"}]},
        {"leaf": "0x7", "subleaf": "0b0", "flags": 1,
         "modifiers": [{"register": "ebx", "bitmap": "0bxxxxxxxxxxxxxxx0xxxxxxxxxxxxxxxx"}]}],
      "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b0000000000000000000000000000000000000000000000000000000001001100"}],
      "kvm_capabilities": [], "reg_modifiers": [], "vcpu_features": []})"));
  ASSERT_EQ(t.cpuid_modifiers.size(), 2u);
  EXPECT_EQ(t.cpuid_modifiers[0].modifiers[0].bitmap.mask, 0x0fff3fffu);
  EXPECT_EQ(t.cpuid_modifiers[0].modifiers[0].bitmap.value, 0x000306f2u);
  EXPECT_EQ(t.cpuid_modifiers[1].leaf, 7u);
  EXPECT_EQ(t.cpuid_modifiers[1].flags, 1u);
  EXPECT_EQ(t.cpuid_modifiers[1].modifiers[0].reg, CpuidRegister::kEbx);
  EXPECT_EQ(t.cpuid_modifiers[1].modifiers[0].bitmap.mask, 1u << 16);
  EXPECT_EQ(t.cpuid_modifiers[1].modifiers[0].bitmap.value, 0u);
  ASSERT_EQ(t.msr_modifiers.size(), 1u);
  EXPECT_EQ(t.msr_modifiers[0].addr, 0x10au);
  EXPECT_EQ(t.msr_modifiers[0].bitmap.mask, ~uint64_t{0});
  EXPECT_EQ(t.msr_modifiers[0].bitmap.value, 0x4cu);
}

TEST(CpuConfig, ShortBitmapsAndUnderscoresAsFirecracker) {
  const auto t = parse_cpu_config(leaf_with_bitmap("1_0x"));  // no 0b prefix: Firecracker accepts it too
  EXPECT_EQ(t.cpuid_modifiers[0].modifiers[0].bitmap.mask, 0b110u);
  EXPECT_EQ(t.cpuid_modifiers[0].modifiers[0].bitmap.value, 0b100u);
}

TEST(CpuConfig, EmptyBodyIsAnEmptyTemplate) {
  EXPECT_EQ(parse_cpu_config(nlohmann::json::object()), CustomCpuTemplate{});
}

TEST(CpuConfig, RoundTripsThroughItsJson) {
  const auto t = parse_cpu_config(leaf_with_bitmap("0b1x0"));
  const auto j = to_json(t);
  EXPECT_EQ(j["cpuid_modifiers"][0]["modifiers"][0]["bitmap"], "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1x0");
  EXPECT_EQ(j["cpuid_modifiers"][0]["leaf"], "0x1");
  EXPECT_EQ(parse_cpu_config(j), t);
}

TEST(CpuConfig, ErrorsNameTheEntry) {
  EXPECT_EQ(error_of([] { parse_cpu_config(leaf_with_bitmap("0b" + std::string(33, 'x'))); }),
            "cpu-config.cpuid_modifiers[0].modifiers[0].bitmap: must be 0b followed by 32 of 0, 1 or x, got \"0b" +
                std::string(33, 'x') + "\" (too long)");
  EXPECT_EQ(error_of([] { parse_cpu_config(leaf_with_bitmap("0bxx2x")); }),
            "cpu-config.cpuid_modifiers[0].modifiers[0].bitmap: must be 0b followed by 32 of 0, 1 or x, got "
            "\"0bxx2x\" (bad character '2')");
  EXPECT_EQ(parse_error(R"({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                "modifiers": [{"register": "rax", "bitmap": "0b1"}]}]})"),
            "cpu-config.cpuid_modifiers[0].modifiers[0].register: must be one of \"eax\", \"ebx\", \"ecx\", \"edx\", "
            "got \"rax\"");
  EXPECT_EQ(parse_error(R"({"cpuid_modifiers": [{"leaf": "1", "subleaf": "0x0", "flags": 0, "modifiers": []}]})"),
            "cpu-config.cpuid_modifiers[0].leaf: must be a hex (\"0x...\") or binary (\"0b...\") number of at most "
            "0xffffffff, got \"1\"");
  EXPECT_EQ(parse_error(R"({"cpuid_modifiers": [{"leaf": "0x1g", "subleaf": "0x0", "flags": 0, "modifiers": []}]})"),
            "cpu-config.cpuid_modifiers[0].leaf: must be a hex (\"0x...\") or binary (\"0b...\") number of at most "
            "0xffffffff, got \"0x1g\"");
  EXPECT_EQ(parse_error(R"({"cpuid_modifiers": [{"leaf": "0x100000000", "subleaf": "0x0", "flags": 0,
                "modifiers": []}]})"),
            "cpu-config.cpuid_modifiers[0].leaf: must be a hex (\"0x...\") or binary (\"0b...\") number of at most "
            "0xffffffff, got \"0x100000000\"");
  EXPECT_EQ(parse_error(R"({"cpuid_modifiers": [{"leaf": 1, "subleaf": "0x0", "flags": 0, "modifiers": []}]})"),
            "cpu-config.cpuid_modifiers[0].leaf: expected a string such as \"0x1\", got unsigned integer");
  EXPECT_EQ(parse_error(R"({"msr_modifiers": [{"addr": "0x10a", "bitmap": "0b)" + std::string(65, '0') + R"("}]})"),
            "cpu-config.msr_modifiers[0].bitmap: must be 0b followed by 64 of 0, 1 or x, got \"0b" +
                std::string(65, '0') + "\" (too long)");
  EXPECT_EQ(parse_error(R"({"vcpu_features": [{"index": 0, "bitmap": "0b1"}]})"),
            "cpu-config.vcpu_features: vCPU features are for aarch64; this host is x86_64");
  EXPECT_EQ(parse_error(R"({"reg_modifiers": [{"addr": "0x1", "bitmap": "0b1"}]})"),
            "cpu-config.reg_modifiers: register modifiers are for aarch64; this host is x86_64");
  EXPECT_EQ(parse_error(R"({"kvm_capabilities": ["!56"]})"),
            "cpu-config.kvm_capabilities: KVM capability changes are not supported by Hearth");
  EXPECT_NE(parse_error(R"({"cpuid_modifier": []})").find("cpuid_modifier"), std::string::npos);
  EXPECT_NE(parse_error(R"({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "modifiers": []}]})")
                .find("cpu-config.cpuid_modifiers[0]: missing required field 'flags'"),
            std::string::npos);
}

TEST(CpuConfig, StaticTemplateNamesAndVendors) {
  const nlohmann::json t2 = "T2", t2a = "T2A", v1n1 = "V1N1", bogus = "T3";
  EXPECT_EQ(parse_static_template(t2, "machine-config.cpu_template", CpuVendor::kIntel), StaticCpuTemplate::kT2);
  EXPECT_EQ(parse_static_template(t2a, "machine-config.cpu_template", CpuVendor::kAmd), StaticCpuTemplate::kT2A);
  EXPECT_EQ(parse_static_template(nlohmann::json("None"), "x", CpuVendor::kOther), StaticCpuTemplate::kNone);
  EXPECT_EQ(error_of([&] { parse_static_template(t2, "machine-config.cpu_template", CpuVendor::kAmd); }),
            "machine-config.cpu_template: \"T2\" is a template for Intel CPUs; this host's CPU is AMD");
  EXPECT_EQ(error_of([&] { parse_static_template(t2a, "machine-config.cpu_template", CpuVendor::kIntel); }),
            "machine-config.cpu_template: \"T2A\" is a template for AMD CPUs; this host's CPU is Intel");
  EXPECT_EQ(error_of([&] { parse_static_template(v1n1, "machine-config.cpu_template"); }),
            "machine-config.cpu_template: \"V1N1\" is an aarch64 template; this host is x86_64");
  EXPECT_EQ(error_of([&] { parse_static_template(bogus, "machine-config.cpu_template"); }),
            "machine-config.cpu_template: must be one of \"None\", \"C3\", \"T2\", \"T2S\", \"T2CL\", \"T2A\", got "
            "\"T3\"");
}

// The host's own vendor template goes through the config file and comes back from to_json.
std::string host_template() { return host_cpu_vendor() == CpuVendor::kAmd ? "T2A" : "T2"; }

nlohmann::json file_with(const std::string& extra) {
  return nlohmann::json::parse(R"({"boot-source": {"kernel_image_path": "/k"},
      "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": ")" + host_template() + "\"}" +
                               extra + "}");
}

TEST(CpuConfig, ConfigFileStaticTemplateRoundTrips) {
  if (host_cpu_vendor() == CpuVendor::kOther) GTEST_SKIP() << "host CPU is neither Intel nor AMD";
  const VmConfig c = parse_config(file_with(""));
  EXPECT_EQ(static_template_name(c.machine.cpu_template), host_template());
  EXPECT_FALSE(c.cpu_config);
  const auto j = to_json(c);
  EXPECT_EQ(j["machine-config"]["cpu_template"], host_template());
  EXPECT_FALSE(j.contains("cpu-config"));
  EXPECT_EQ(parse_config(j).machine.cpu_template, c.machine.cpu_template);
}

TEST(CpuConfig, ConfigFileCustomTemplateWinsAndRoundTrips) {
  if (host_cpu_vendor() == CpuVendor::kOther) GTEST_SKIP() << "host CPU is neither Intel nor AMD";
  const VmConfig c = parse_config(file_with(R"(, "cpu-config": )" + leaf_with_bitmap("0b0").dump()));
  EXPECT_EQ(c.machine.cpu_template, StaticCpuTemplate::kNone);  // as Firecracker: cpu-config is applied last
  ASSERT_TRUE(c.cpu_config);
  const auto j = to_json(c);
  EXPECT_FALSE(j["machine-config"].contains("cpu_template"));
  const VmConfig back = parse_config(j);
  ASSERT_TRUE(back.cpu_config);
  EXPECT_EQ(*back.cpu_config, *c.cpu_config);
}

TEST(CpuConfig, ConfigFileCpuConfigMayBeAPath) {
  if (host_cpu_vendor() == CpuVendor::kOther) GTEST_SKIP() << "host CPU is neither Intel nor AMD";
  char path[] = "/tmp/hearth-cpu-config-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << leaf_with_bitmap("0b1").dump();
  const VmConfig c = parse_config(file_with(R"(, "cpu-config": ")" + std::string(path) + "\""));
  ASSERT_TRUE(c.cpu_config);
  EXPECT_EQ(c.cpu_config->cpuid_modifiers[0].modifiers[0].bitmap.value, 1u);
  std::ofstream(path) << leaf_with_bitmap("0b2").dump();
  EXPECT_NE(error_of([&] { parse_config(file_with(R"(, "cpu-config": ")" + std::string(path) + "\"")); })
                .find("cpu-config (\"" + std::string(path) + "\").cpuid_modifiers[0].modifiers[0].bitmap"),
            std::string::npos);
  std::remove(path);
  EXPECT_NE(error_of([&] { parse_config(file_with(R"(, "cpu-config": ")" + std::string(path) + "\"")); })
                .find("cannot open"),
            std::string::npos);
}

}  // namespace
}  // namespace hearth::api
