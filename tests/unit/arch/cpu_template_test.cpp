#include "vmm/arch/cpu_template.h"

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"
#include "vmm/arch/cpuid.h"

namespace hearth::arch {
namespace {

using test::error_of;

kvm_cpuid_entry2 entry(uint32_t function, uint32_t index, bool indexed, uint32_t all_regs) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = e.ebx = e.ecx = e.edx = all_regs;
  return e;
}

// Every leaf the static templates touch, all bits set, so each template's cleared bits show.
kvm::CpuidEntries all_ones() {
  return {entry(0x1, 0, false, ~0u),        entry(0x7, 0, true, ~0u),        entry(0x7, 1, true, ~0u),
          entry(0xd, 0, true, ~0u),         entry(0xd, 1, true, ~0u),        entry(0x80000001, 0, false, ~0u),
          entry(0x80000008, 0, false, ~0u)};
}

TEST(CpuTemplate, AppliesMaskAndValueAndTakesFlags) {
  CustomCpuTemplate t;
  t.cpuid_modifiers.push_back({0x1, 0, 0, {{CpuidRegister::kEcx, {0x0000'00ff, 0x0000'00a5}}}});
  auto entries = all_ones();
  apply_cpuid_template(entries, t);
  const auto* l1 = find_cpuid(entries, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ecx, 0xffff'ffa5u);  // bits outside the mask keep the host's value
  EXPECT_EQ(l1->eax, ~0u);
}

TEST(CpuTemplate, MissingLeafNamesIt) {
  CustomCpuTemplate t;
  t.cpuid_modifiers.push_back({0x14, 0x1, 1, {{CpuidRegister::kEax, {1, 0}}}});
  auto entries = all_ones();
  EXPECT_EQ(error_of([&] { apply_cpuid_template(entries, t); }),
            "CPU template: CPUID leaf 0x14 subleaf 0x1 is not available on this host (KVM does not report it)");
}

TEST(CpuTemplate, SubleafOfAnUnindexedLeafIsMissing) {
  CustomCpuTemplate t;
  t.cpuid_modifiers.push_back({0x1, 0x2, 0, {{CpuidRegister::kEax, {1, 0}}}});
  auto entries = all_ones();
  EXPECT_NE(error_of([&] { apply_cpuid_template(entries, t); }), "<no error>");
}

// Expectations written from Intel's/AMD's manuals and Firecracker's docs, not from our tables.
TEST(CpuTemplate, T2HidesAvx512AndMpx) {
  auto entries = all_ones();
  apply_cpuid_template(entries, static_cpu_template(StaticCpuTemplate::kT2));
  const auto* l7 = find_cpuid(entries, 7, 0);
  ASSERT_NE(l7, nullptr);
  EXPECT_EQ(l7->ebx & (1u << 16), 0u);  // AVX512F
  EXPECT_EQ(l7->ebx & (1u << 14), 0u);  // MPX
  EXPECT_NE(l7->ebx & (1u << 5), 0u);   // AVX2 is left as the host has it
  const auto* l1 = find_cpuid(entries, 1);
  EXPECT_EQ(l1->eax & 0x0fff'3fff, 0x000306f2u);  // family 6 model 0x3f (Haswell) stepping 2
}

TEST(CpuTemplate, C3HidesAvx512ButKeepsFamily) {
  auto entries = all_ones();
  apply_cpuid_template(entries, static_cpu_template(StaticCpuTemplate::kC3));
  EXPECT_EQ(find_cpuid(entries, 7, 0)->ebx & (1u << 16), 0u);
  EXPECT_EQ(find_cpuid(entries, 1)->eax & 0x0fff'3fff, 0x000306e4u);  // Ivy Bridge EP: model 0x3e stepping 4
}

TEST(CpuTemplate, T2AHidesAvx512AndSse4a) {
  auto entries = all_ones();
  apply_cpuid_template(entries, static_cpu_template(StaticCpuTemplate::kT2A));
  EXPECT_EQ(find_cpuid(entries, 7, 0)->ebx & (1u << 16), 0u);
  EXPECT_EQ(find_cpuid(entries, 0x80000001)->ecx & (1u << 6), 0u);  // SSE4A
}

TEST(CpuTemplate, T2SAndT2CLSetArchCapabilities) {
  for (auto t : {StaticCpuTemplate::kT2S, StaticCpuTemplate::kT2CL}) {
    const auto& tmpl = static_cpu_template(t);
    ASSERT_EQ(tmpl.msr_modifiers.size(), 1u) << static_template_name(t);
    EXPECT_EQ(tmpl.msr_modifiers[0].addr, 0x10au);
  }
  // T2S: the whole MSR is fixed; RDCL_NO (bit 0) is clear, so the guest mitigates Meltdown.
  const auto out = apply_msr_template({{0x10a, 0, ~uint64_t{0}}}, static_cpu_template(StaticCpuTemplate::kT2S));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data & 1, 0u);
  EXPECT_EQ(out[0].data, static_cpu_template(StaticCpuTemplate::kT2S).msr_modifiers[0].bitmap.value);
}

TEST(CpuTemplate, NoneIsEmptyAndAllOthersApplyToAKvmLikeTable) {
  EXPECT_EQ(static_cpu_template(StaticCpuTemplate::kNone), CustomCpuTemplate{});
  for (auto t : {StaticCpuTemplate::kC3, StaticCpuTemplate::kT2, StaticCpuTemplate::kT2S, StaticCpuTemplate::kT2CL,
                 StaticCpuTemplate::kT2A}) {
    auto entries = all_ones();
    EXPECT_EQ(error_of([&] { apply_cpuid_template(entries, static_cpu_template(t)); }), "<no error>")
        << static_template_name(t);
    // Every masked bit reads as the template's value.
    for (const auto& leaf : static_cpu_template(t).cpuid_modifiers) {
      const auto* e = find_cpuid(entries, leaf.leaf, leaf.subleaf);
      ASSERT_NE(e, nullptr);
      for (const auto& m : leaf.modifiers) {
        const uint32_t regs[] = {e->eax, e->ebx, e->ecx, e->edx};
        EXPECT_EQ(regs[int(m.reg)] & m.bitmap.mask, m.bitmap.value & m.bitmap.mask);
      }
    }
  }
}

TEST(CpuTemplate, MsrModifierKeepsUnmaskedBitsAndNamesMissingMsr) {
  CustomCpuTemplate t;
  t.msr_modifiers.push_back({0x10a, {0xf0, 0x50}});
  const auto out = apply_msr_template({{0x10a, 0, 0xffff}}, t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, 0xff5fu);
  EXPECT_EQ(error_of([&] { apply_msr_template({{0x10b, 0, 0}}, t); }),
            "CPU template: MSR 0x10a is not available on this host (KVM cannot read it)");
}

}  // namespace
}  // namespace hearth::arch
