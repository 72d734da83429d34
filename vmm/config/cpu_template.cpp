#include "vmm/config/cpu_template.h"

#include <cpuid.h>

#include <array>
#include <cstring>
#include <utility>

namespace hearth {
namespace {

constexpr std::array<std::pair<std::string_view, StaticCpuTemplate>, 6> kNames = {{
    {"None", StaticCpuTemplate::kNone},
    {"C3", StaticCpuTemplate::kC3},
    {"T2", StaticCpuTemplate::kT2},
    {"T2S", StaticCpuTemplate::kT2S},
    {"T2CL", StaticCpuTemplate::kT2CL},
    {"T2A", StaticCpuTemplate::kT2A},
}};

}  // namespace

std::string_view static_template_name(StaticCpuTemplate t) {
  for (const auto& [name, value] : kNames) {
    if (value == t) return name;
  }
  return "None";
}

std::optional<StaticCpuTemplate> static_template_from_name(std::string_view name) {
  for (const auto& [n, value] : kNames) {
    if (n == name) return value;
  }
  return std::nullopt;
}

CpuVendor template_vendor(StaticCpuTemplate t) {
  switch (t) {
    case StaticCpuTemplate::kC3:
    case StaticCpuTemplate::kT2:
    case StaticCpuTemplate::kT2S:
    case StaticCpuTemplate::kT2CL: return CpuVendor::kIntel;
    case StaticCpuTemplate::kT2A: return CpuVendor::kAmd;
    case StaticCpuTemplate::kNone: break;
  }
  return CpuVendor::kOther;
}

std::string_view vendor_name(CpuVendor v) {
  switch (v) {
    case CpuVendor::kIntel: return "Intel";
    case CpuVendor::kAmd: return "AMD";
    case CpuVendor::kOther: break;
  }
  return "unknown";
}

CpuVendor host_cpu_vendor() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return CpuVendor::kOther;
  char id[13] = {};
  std::memcpy(id, &ebx, 4);
  std::memcpy(id + 4, &edx, 4);
  std::memcpy(id + 8, &ecx, 4);
  if (std::strcmp(id, "GenuineIntel") == 0) return CpuVendor::kIntel;
  if (std::strcmp(id, "AuthenticAMD") == 0) return CpuVendor::kAmd;
  return CpuVendor::kOther;
}

std::string_view cpuid_register_name(CpuidRegister r) {
  switch (r) {
    case CpuidRegister::kEax: return "eax";
    case CpuidRegister::kEbx: return "ebx";
    case CpuidRegister::kEcx: return "ecx";
    case CpuidRegister::kEdx: return "edx";
  }
  return "eax";
}

}  // namespace hearth
