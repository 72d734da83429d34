#pragma once
// Register, GDT, page-table and MSR state a vCPU needs to enter a kernel.
#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vmm/memory/guest_memory.h"

namespace hearth::arch {

// Which entry the boot vCPU takes: Linux 64-bit (long mode, RSI = zero page) or PVH (32-bit, EBX = start info).
enum class EntryMode { kLinux64, kPvh32 };

// GDT selectors, as the Linux boot protocol names them (__BOOT_CS, __BOOT_DS).
inline constexpr uint16_t kBootCsSelector = 0x10;
inline constexpr uint16_t kBootDsSelector = 0x18;
inline constexpr uint16_t kBootTssSelector = 0x20;

std::array<uint64_t, 5> boot_gdt(EntryMode mode);
kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector);

// Writes the GDT, an empty IDT and (for long mode) identity page tables for 0..4 GiB.
void write_boot_tables(const GuestMemory& mem, EntryMode mode);

// Special registers for `mode`, starting from the vCPU's current ones.
kvm_sregs boot_sregs(kvm_sregs current, EntryMode mode);
// General registers: entry point, stack, and the boot-info pointer in RSI or RBX.
kvm_regs boot_regs(EntryMode mode, uint64_t entry);
kvm_fpu boot_fpu();
std::vector<kvm_msr_entry> boot_msrs();
// LINT0 as ExtINT and LINT1 as NMI, so the legacy PIC and NMIs reach the BSP.
kvm_lapic_state boot_lapic(kvm_lapic_state current);

}  // namespace hearth::arch
