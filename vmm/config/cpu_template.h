#pragma once
// CPU templates as data (Firecracker's model): which CPUID bits and MSR bits a guest sees. Static templates
// are named tables (vmm/arch/cpu_templates.cpp); a custom template comes from PUT /cpu-config or the config
// file's "cpu-config". Kept free of KVM so that api/ can validate and print them.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace hearth {

enum class StaticCpuTemplate { kNone, kC3, kT2, kT2S, kT2CL, kT2A };
enum class CpuVendor { kIntel, kAmd, kOther };

std::string_view static_template_name(StaticCpuTemplate t);
// x86_64 names only ("V1N1" is aarch64's); nullopt for anything else.
std::optional<StaticCpuTemplate> static_template_from_name(std::string_view name);
// The vendor whose CPUs a static template describes (kOther for kNone).
CpuVendor template_vendor(StaticCpuTemplate t);
std::string_view vendor_name(CpuVendor v);
// From the host's CPUID leaf 0 (the cpuid instruction, not KVM).
CpuVendor host_cpu_vendor();

// Bits under `mask` become those of `value`; the others keep what the host gave.
template <typename T>
struct BitFilter {
  T mask = 0;
  T value = 0;
  T apply(T v) const { return static_cast<T>((v & ~mask) | (value & mask)); }
  bool operator==(const BitFilter&) const = default;
};

enum class CpuidRegister { kEax, kEbx, kEcx, kEdx };
std::string_view cpuid_register_name(CpuidRegister r);

struct CpuidRegisterModifier {
  CpuidRegister reg = CpuidRegister::kEax;
  BitFilter<uint32_t> bitmap;
  bool operator==(const CpuidRegisterModifier&) const = default;
};

struct CpuidLeafModifier {
  uint32_t leaf = 0;
  uint32_t subleaf = 0;
  uint32_t flags = 0;  // KVM_CPUID_FLAG_*; 1 = the subleaf is significant
  std::vector<CpuidRegisterModifier> modifiers;
  bool operator==(const CpuidLeafModifier&) const = default;
};

struct MsrModifier {
  uint32_t addr = 0;
  BitFilter<uint64_t> bitmap;
  bool operator==(const MsrModifier&) const = default;
};

struct CustomCpuTemplate {
  std::vector<CpuidLeafModifier> cpuid_modifiers;
  std::vector<MsrModifier> msr_modifiers;
  bool operator==(const CustomCpuTemplate&) const = default;
};

}  // namespace hearth
