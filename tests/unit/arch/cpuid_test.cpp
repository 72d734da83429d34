#include "vmm/arch/cpuid.h"

#include <gtest/gtest.h>

#include <cstring>

namespace hearth::arch {
namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index = 0, bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  return e;
}

kvm::CpuidEntries host_like(const char* vendor) {
  kvm::CpuidEntries entries;
  auto l0 = leaf(0);
  l0.eax = 0x1f;
  std::memcpy(&l0.ebx, vendor, 4);
  std::memcpy(&l0.edx, vendor + 4, 4);
  std::memcpy(&l0.ecx, vendor + 8, 4);
  entries.push_back(l0);
  auto l1 = leaf(1);
  l1.ebx = 0xff00'0000 | 0x00ff'0000 | 0x0800;  // host APIC ID and counts to be replaced
  entries.push_back(l1);
  for (uint32_t sub = 0; sub < 3; ++sub) entries.push_back(leaf(0xb, sub, true));
  entries.push_back(leaf(0xa));
  entries.back().eax = 0x07300805;  // a PMU the guest must not see
  entries.push_back(leaf(0x80000008));
  entries.push_back(leaf(0x8000001e));
  return entries;
}

TEST(Cpuid, SetsApicIdCountAndHypervisorBit) {
  auto out = normalize_cpuid(host_like("GenuineIntelX"), 3, {4, false});
  const auto* l1 = find_cpuid(out, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ((l1->ebx >> 8) & 0xff, 8u);
  EXPECT_TRUE(l1->ecx & (1u << 31));
  EXPECT_TRUE(l1->edx & (1u << 28));
}

TEST(Cpuid, SingleVcpuHasNoHtt) {
  auto out = normalize_cpuid(host_like("GenuineIntelX"), 0, {1, false});
  EXPECT_FALSE(find_cpuid(out, 1)->edx & (1u << 28));
}

TEST(Cpuid, ExtendedTopologyWithAndWithoutSmt) {
  auto no_smt = normalize_cpuid(host_like("GenuineIntelX"), 5, {8, false});
  const auto* smt_level = find_cpuid(no_smt, 0xb, 0);
  const auto* core_level = find_cpuid(no_smt, 0xb, 1);
  const auto* end_level = find_cpuid(no_smt, 0xb, 2);
  EXPECT_EQ(smt_level->ebx, 1u);
  EXPECT_EQ(smt_level->eax, 0u);
  EXPECT_EQ(core_level->ebx, 8u);
  EXPECT_EQ(core_level->eax, 3u);
  EXPECT_EQ((core_level->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ((end_level->ecx >> 8) & 0xff, 0u);
  EXPECT_EQ(core_level->edx, 5u);

  auto smt = normalize_cpuid(host_like("GenuineIntelX"), 1, {4, true});
  EXPECT_EQ(find_cpuid(smt, 0xb, 0)->ebx, 2u);
  EXPECT_EQ(find_cpuid(smt, 0xb, 0)->eax, 1u);
}

TEST(Cpuid, CompletesATopologyLeafTheHostReportsOnlyInPart) {
  kvm::CpuidEntries host = host_like("AuthenticAMD");
  std::erase_if(host, [](const kvm_cpuid_entry2& e) { return e.function == 0xb && e.index > 0; });
  auto out = normalize_cpuid(host, 1, {2, false});
  ASSERT_NE(find_cpuid(out, 0xb, 1), nullptr);
  EXPECT_EQ(find_cpuid(out, 0xb, 1)->ebx, 2u);
  EXPECT_EQ((find_cpuid(out, 0xb, 1)->ecx >> 8) & 0xff, 2u);
  ASSERT_NE(find_cpuid(out, 0xb, 2), nullptr);
  EXPECT_EQ((find_cpuid(out, 0xb, 2)->ecx >> 8) & 0xff, 0u);
  EXPECT_EQ(find_cpuid(out, 0x1f, 0), nullptr);  // not invented when the host has none
}

TEST(Cpuid, HidesPmuAndAddsKvmSignature) {
  auto out = normalize_cpuid(host_like("GenuineIntelX"), 0, {1, false});
  EXPECT_EQ(find_cpuid(out, 0xa)->eax, 0u);
  const auto* hv = find_cpuid(out, 0x40000000);
  ASSERT_NE(hv, nullptr);
  char sig[13] = {};
  std::memcpy(sig, &hv->ebx, 4);
  std::memcpy(sig + 4, &hv->ecx, 4);
  std::memcpy(sig + 8, &hv->edx, 4);
  EXPECT_STREQ(sig, "KVMKVMKVM");
  EXPECT_GE(hv->eax, 0x40000001u);
}

TEST(Cpuid, AmdCoreCountLeaf) {
  auto out = normalize_cpuid(host_like("AuthenticAMD"), 2, {4, false});
  EXPECT_EQ(find_cpuid(out, 0x80000008)->ecx & 0xff, 3u);
  EXPECT_EQ(find_cpuid(out, 0x8000001e)->eax, 2u);
}

}  // namespace
}  // namespace hearth::arch
