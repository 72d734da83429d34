#include "vmm/arch/boot_cpu.h"

#include <cstring>

#include "vmm/arch/layout.h"

namespace hearth::arch {
namespace {

constexpr uint64_t kCr0Pe = 1ull << 0;
constexpr uint64_t kCr0Et = 1ull << 4;
constexpr uint64_t kCr0Nw = 1ull << 29;
constexpr uint64_t kCr0Cd = 1ull << 30;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;

constexpr uint64_t kPtePresentRw = 0x3;
constexpr uint64_t kPtePageSize = 0x80;

// Flat 4 GiB descriptors (Intel SDM vol. 3, 3.4.5).
constexpr uint64_t kCode64 = 0x00af9b000000ffffull;  // L=1: long-mode code
constexpr uint64_t kCode32 = 0x00cf9b000000ffffull;  // D=1: 32-bit code, for PVH
constexpr uint64_t kData = 0x00cf93000000ffffull;
constexpr uint64_t kTss = 0x008f8b000000ffffull;     // busy TSS, as VMX entry requires a usable TR

constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrTsc = 0x10, kMsrMiscEnable = 0x1a0, kMsrMtrrDefType = 0x2ff;
constexpr uint64_t kMiscEnableFastString = 1;
constexpr uint64_t kMtrrEnableWriteBack = (1u << 11) | 6;

constexpr size_t kLapicLvtLint0 = 0x350;
constexpr size_t kLapicLvtLint1 = 0x360;
constexpr uint32_t kApicDeliveryExtInt = 7;
constexpr uint32_t kApicDeliveryNmi = 4;

void set_lapic_delivery_mode(kvm_lapic_state& lapic, size_t reg, uint32_t mode) {
  uint32_t value;
  std::memcpy(&value, lapic.regs + reg, sizeof(value));
  value = (value & ~0x700u) | (mode << 8);
  std::memcpy(lapic.regs + reg, &value, sizeof(value));
}

}  // namespace

std::array<uint64_t, 5> boot_gdt(EntryMode mode) {
  return {0, 0, mode == EntryMode::kLinux64 ? kCode64 : kCode32, kData, kTss};
}

kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector) {
  kvm_segment seg{};
  seg.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
  uint32_t limit = static_cast<uint32_t>((entry & 0xffff) | (((entry >> 48) & 0xf) << 16));
  seg.g = (entry >> 55) & 1;
  seg.limit = seg.g ? (limit << 12) | 0xfff : limit;
  seg.selector = selector;
  seg.type = (entry >> 40) & 0xf;
  seg.present = (entry >> 47) & 1;
  seg.dpl = (entry >> 45) & 3;
  seg.db = (entry >> 54) & 1;
  seg.s = (entry >> 44) & 1;
  seg.l = (entry >> 53) & 1;
  seg.avl = (entry >> 52) & 1;
  seg.unusable = seg.present ? 0 : 1;
  return seg;
}

void write_boot_tables(const GuestMemory& mem, EntryMode mode) {
  const auto gdt = boot_gdt(mode);
  for (size_t i = 0; i < gdt.size(); ++i) mem.write_obj<uint64_t>(layout::kGdtAddr + i * 8, gdt[i]);
  mem.write_obj<uint64_t>(layout::kIdtAddr, 0);
  if (mode != EntryMode::kLinux64) return;  // PVH enters with paging off

  mem.write_obj<uint64_t>(layout::kPml4Addr, layout::kPdptAddr | kPtePresentRw);
  for (uint64_t i = 0; i < layout::kPdPages; ++i) {
    const uint64_t pd = layout::kPdAddr + i * layout::kPageSize;
    mem.write_obj<uint64_t>(layout::kPdptAddr + i * 8, pd | kPtePresentRw);
    for (uint64_t j = 0; j < 512; ++j) {
      const uint64_t addr = ((i * 512) + j) << 21;  // 2 MiB pages
      mem.write_obj<uint64_t>(pd + j * 8, addr | kPtePresentRw | kPtePageSize);
    }
  }
}

kvm_sregs boot_sregs(kvm_sregs sregs, EntryMode mode) {
  const auto gdt = boot_gdt(mode);
  sregs.gdt.base = layout::kGdtAddr;
  sregs.gdt.limit = static_cast<uint16_t>(gdt.size() * 8 - 1);
  sregs.idt.base = layout::kIdtAddr;
  sregs.idt.limit = 7;

  sregs.cs = segment_from_gdt_entry(gdt[2], kBootCsSelector);
  const kvm_segment data = segment_from_gdt_entry(gdt[3], kBootDsSelector);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = segment_from_gdt_entry(gdt[4], kBootTssSelector);

  sregs.cr0 = (sregs.cr0 & ~(kCr0Cd | kCr0Nw)) | kCr0Pe | kCr0Et;
  if (mode == EntryMode::kLinux64) {
    sregs.cr0 |= kCr0Pg;
    sregs.cr3 = layout::kPml4Addr;
    sregs.cr4 |= kCr4Pae;
    sregs.efer |= kEferLme | kEferLma;
  } else {
    sregs.cr0 &= ~kCr0Pg;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
  }
  return sregs;
}

kvm_regs boot_regs(EntryMode mode, uint64_t entry) {
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved-as-one; interrupts stay off
  regs.rip = entry;
  regs.rsp = regs.rbp = layout::kBootStackTop;
  if (mode == EntryMode::kLinux64) {
    regs.rsi = layout::kZeroPageAddr;
  } else {
    regs.rbx = layout::kPvhStartInfoAddr;
  }
  return regs;
}

kvm_fpu boot_fpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;      // x87 default: all exceptions masked, extended precision
  fpu.mxcsr = 0x1f80;   // SSE default: all exceptions masked
  return fpu;
}

std::vector<kvm_msr_entry> boot_msrs() {
  auto msr = [](uint32_t index, uint64_t data) {
    kvm_msr_entry e{};
    e.index = index;
    e.data = data;
    return e;
  };
  return {
      msr(kMsrSysenterCs, 0), msr(kMsrSysenterEsp, 0), msr(kMsrSysenterEip, 0),
      msr(kMsrStar, 0),       msr(kMsrCstar, 0),       msr(kMsrKernelGsBase, 0),
      msr(kMsrSyscallMask, 0), msr(kMsrLstar, 0),      msr(kMsrTsc, 0),
      msr(kMsrMiscEnable, kMiscEnableFastString),      msr(kMsrMtrrDefType, kMtrrEnableWriteBack),
  };
}

kvm_lapic_state boot_lapic(kvm_lapic_state lapic) {
  set_lapic_delivery_mode(lapic, kLapicLvtLint0, kApicDeliveryExtInt);
  set_lapic_delivery_mode(lapic, kLapicLvtLint1, kApicDeliveryNmi);
  return lapic;
}

}  // namespace hearth::arch
