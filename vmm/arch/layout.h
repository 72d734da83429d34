#pragma once
// x86_64 guest physical layout. Every guest-visible address is written down here once.
#include <cstdint>

#include "vmm/config/limits.h"

namespace hearth::layout {

inline constexpr uint64_t kPageSize = 0x1000;

// Low memory: boot structures written by the loader before the first vCPU runs.
inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x520;
inline constexpr uint64_t kPvhStartInfoAddr = 0x6000;  // hvm_start_info, modlist, memmap (one page)
inline constexpr uint64_t kZeroPageAddr = 0x7000;      // Linux struct boot_params
inline constexpr uint64_t kBootStackTop = 0x8ff0;
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xA000;
inline constexpr uint64_t kPdAddr = 0xB000;            // four PD pages: identity map of 0..4 GiB
inline constexpr uint64_t kPdPages = 4;
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMaxSize = 0x10000;   // our own cap; bzImage headers may lower it
inline constexpr uint64_t kEbdaStart = 0x9fc00;        // [kEbdaStart, 1 MiB) is reserved in the e820 map
inline constexpr uint64_t kAcpiStart = 0xE0000;        // RSDP first, then the other tables
inline constexpr uint64_t kAcpiEnd = 0x100000;
inline constexpr uint64_t kHimemStart = 0x100000;      // 1 MiB: protected-mode kernels load here

// The 32-bit MMIO gap: RAM stops at kMmioGapStart and continues at kHighRamStart.
inline constexpr uint64_t kMmioGapStart = 0xD0000000;
inline constexpr uint64_t kMmioGapEnd = 0x100000000;
inline constexpr uint64_t kHighRamStart = 0x100000000;

// Devices inside the gap, one 4 KiB window each.
inline constexpr uint64_t kBootTimerAddr = kMmioGapStart;  // guest writes 123 here when booted
inline constexpr uint64_t kMmioWindowSize = 0x1000;
inline constexpr uint64_t kVirtioMmioBase = kMmioGapStart + kMmioWindowSize;
inline constexpr uint32_t kVirtioMmioMaxDevices = 32;
inline constexpr uint64_t kIoapicAddr = 0xFEC00000;
inline constexpr uint64_t kLapicAddr = 0xFEE00000;
inline constexpr uint64_t kIdentityMapAddr = 0xFFFBC000;   // KVM_SET_IDENTITY_MAP_ADDR (one page)
inline constexpr uint64_t kTssAddr = 0xFFFBD000;           // KVM_SET_TSS_ADDR (three pages)

// Legacy I/O ports and their IOAPIC pins.
inline constexpr uint16_t kSerialPort = 0x3f8;
inline constexpr uint32_t kSerialIrq = 4;
inline constexpr uint16_t kI8042DataPort = 0x60;
inline constexpr uint16_t kI8042CommandPort = 0x64;
inline constexpr uint32_t kI8042Irq = 1;
inline constexpr uint32_t kVirtioIrqFirst = 5;   // virtio-mmio device i uses kVirtioIrqFirst + i
inline constexpr uint32_t kIoapicPins = 24;

using hearth::kMaxVcpus;

// Guest RAM ranges (KVM memory slots) for a VM of `mem_size` bytes.
struct RamLayout {
  uint64_t low_size;   // [0, low_size)
  uint64_t high_size;  // [kHighRamStart, kHighRamStart + high_size)
};
constexpr RamLayout ram_layout(uint64_t mem_size) {
  if (mem_size <= kMmioGapStart) return {mem_size, 0};
  return {kMmioGapStart, mem_size - kMmioGapStart};
}

}  // namespace hearth::layout
