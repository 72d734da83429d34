// Firecracker's x86_64 static CPU templates as (mask, value) tables, transcribed from
// firecracker src/vmm/src/cpu_config/x86_64/static_cpu_templates/{c3,t2,t2s,t2cl,t2a}.rs (commit 81b38b9).
// docs/cpu-templates.md says what each one hides. A mask bit set means "the guest sees value's bit".
#include "vmm/arch/cpu_template.h"

namespace hearth::arch {
namespace {

const CustomCpuTemplate kT2 = {
  .cpuid_modifiers = {
    {0x1, 0x0, 0, {
      {CpuidRegister::kEax, {0x0fff3fff, 0x000306f2}},
      {CpuidRegister::kEcx, {0x0004cdfc, 0x00000000}},
      {CpuidRegister::kEdx, {0xe8641080, 0x00001080}},
    }},
    {0x7, 0x0, 1, {
      {CpuidRegister::kEbx, {0xffefda14, 0x00000200}},
      {CpuidRegister::kEcx, {0x40415f5e, 0x00000000}},
      {CpuidRegister::kEdx, {0x0000011c, 0x00000000}},
    }},
    {0xd, 0x0, 1, {
      {CpuidRegister::kEax, {0x000002f8, 0x00000000}},
    }},
    {0xd, 0x1, 1, {
      {CpuidRegister::kEax, {0x0000000e, 0x00000000}},
    }},
    {0x80000001, 0x0, 0, {
      {CpuidRegister::kEcx, {0x20000100, 0x00000000}},
      {CpuidRegister::kEdx, {0x04000000, 0x00000000}},
    }},
    {0x80000008, 0x0, 0, {
      {CpuidRegister::kEbx, {0x00000200, 0x00000000}},
    }},
  },
  .msr_modifiers = {
  },
};

const CustomCpuTemplate kT2S = {
  .cpuid_modifiers = {
    {0x1, 0x0, 0, {
      {CpuidRegister::kEax, {0x0fff3fff, 0x000306f2}},
      {CpuidRegister::kEcx, {0x0004cdfc, 0x00000000}},
      {CpuidRegister::kEdx, {0xe8641080, 0x00001080}},
    }},
    {0x7, 0x0, 1, {
      {CpuidRegister::kEbx, {0xffefda14, 0x00000200}},
      {CpuidRegister::kEcx, {0x40415f5e, 0x00000000}},
      {CpuidRegister::kEdx, {0x0000011c, 0x00000000}},
    }},
    {0xd, 0x0, 1, {
      {CpuidRegister::kEax, {0x000002f8, 0x00000000}},
    }},
    {0xd, 0x1, 1, {
      {CpuidRegister::kEax, {0x0000000e, 0x00000000}},
    }},
    {0x80000001, 0x0, 0, {
      {CpuidRegister::kEcx, {0x20000100, 0x00000000}},
      {CpuidRegister::kEdx, {0x04000000, 0x00000000}},
    }},
    {0x80000008, 0x0, 0, {
      {CpuidRegister::kEbx, {0x00000200, 0x00000000}},
    }},
  },
  .msr_modifiers = {
    {0x10a, {0xffffffffffffffff, 0x000000000c0a0c4c}},
  },
};

const CustomCpuTemplate kT2CL = {
  .cpuid_modifiers = {
    {0x1, 0x0, 0, {
      {CpuidRegister::kEax, {0x0fff3fff, 0x000306f2}},
      {CpuidRegister::kEcx, {0x0004cdfc, 0x00000000}},
      {CpuidRegister::kEdx, {0xe8641080, 0x00001080}},
    }},
    {0x7, 0x0, 1, {
      {CpuidRegister::kEbx, {0xffefda14, 0x00000200}},
      {CpuidRegister::kEcx, {0x40415f5e, 0x00000000}},
      {CpuidRegister::kEdx, {0x0000011c, 0x00000000}},
    }},
    {0xd, 0x0, 1, {
      {CpuidRegister::kEax, {0x000002f8, 0x00000000}},
    }},
    {0xd, 0x1, 1, {
      {CpuidRegister::kEax, {0x0000000e, 0x00000000}},
    }},
    {0x80000001, 0x0, 0, {
      {CpuidRegister::kEcx, {0x200001c0, 0x00000000}},
      {CpuidRegister::kEdx, {0x07c00000, 0x00000000}},
    }},
    {0x80000008, 0x0, 0, {
      {CpuidRegister::kEbx, {0x00000200, 0x00000000}},
    }},
  },
  .msr_modifiers = {
    {0x10a, {0xffffffffe2f51e00, 0x0000000000000000}},
  },
};

const CustomCpuTemplate kT2A = {
  .cpuid_modifiers = {
    {0x1, 0x0, 0, {
      {CpuidRegister::kEax, {0x0fff3fff, 0x000306f2}},
      {CpuidRegister::kEcx, {0x0004cdfc, 0x00000000}},
      {CpuidRegister::kEdx, {0xe8641080, 0x00001080}},
    }},
    {0x7, 0x0, 1, {
      {CpuidRegister::kEbx, {0xffefda14, 0x00000200}},
      {CpuidRegister::kEcx, {0x40415f5e, 0x00000000}},
      {CpuidRegister::kEdx, {0x0000011c, 0x00000000}},
    }},
    {0xd, 0x0, 1, {
      {CpuidRegister::kEax, {0x000002f8, 0x00000000}},
    }},
    {0xd, 0x1, 1, {
      {CpuidRegister::kEax, {0x0000000e, 0x00000000}},
    }},
    {0x80000001, 0x0, 0, {
      {CpuidRegister::kEcx, {0x200001c4, 0x00000000}},
      {CpuidRegister::kEdx, {0x06400000, 0x00000000}},
    }},
    {0x80000008, 0x0, 0, {
      {CpuidRegister::kEbx, {0x001c0205, 0x001c0004}},
    }},
  },
  .msr_modifiers = {
  },
};

const CustomCpuTemplate kC3 = {
  .cpuid_modifiers = {
    {0x1, 0x0, 0, {
      {CpuidRegister::kEax, {0x0fff3fff, 0x000306e4}},
      {CpuidRegister::kEcx, {0x0040dd3c, 0x00000000}},
      {CpuidRegister::kEdx, {0xa8641080, 0x00001080}},
    }},
    {0x7, 0x0, 1, {
      {CpuidRegister::kEbx, {0xffafdd3c, 0x00000000}},
      {CpuidRegister::kEcx, {0x4041481e, 0x00000000}},
      {CpuidRegister::kEdx, {0x0000000c, 0x00000000}},
    }},
    {0xd, 0x0, 1, {
      {CpuidRegister::kEax, {0x000002f8, 0x00000000}},
    }},
    {0xd, 0x1, 1, {
      {CpuidRegister::kEax, {0x0000000e, 0x00000000}},
    }},
    {0x80000001, 0x0, 0, {
      {CpuidRegister::kEcx, {0x00000120, 0x00000000}},
      {CpuidRegister::kEdx, {0x04000000, 0x00000000}},
    }},
  },
  .msr_modifiers = {
  },
};

const CustomCpuTemplate kEmpty{};

}  // namespace

const CustomCpuTemplate& static_cpu_template(StaticCpuTemplate t) {
  switch (t) {
    case StaticCpuTemplate::kC3: return kC3;
    case StaticCpuTemplate::kT2: return kT2;
    case StaticCpuTemplate::kT2S: return kT2S;
    case StaticCpuTemplate::kT2CL: return kT2CL;
    case StaticCpuTemplate::kT2A: return kT2A;
    case StaticCpuTemplate::kNone: break;
  }
  return kEmpty;
}

}  // namespace hearth::arch
