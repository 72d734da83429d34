#include "vmm/arch/boot_cpu.h"

#include <gtest/gtest.h>

#include "vmm/arch/layout.h"

namespace hearth::arch {
namespace {

TEST(BootCpu, LongModeCodeSegmentDecodes) {
  auto gdt = boot_gdt(EntryMode::kLinux64);
  kvm_segment cs = segment_from_gdt_entry(gdt[2], kBootCsSelector);
  EXPECT_EQ(cs.l, 1);
  EXPECT_EQ(cs.db, 0);
  EXPECT_EQ(cs.limit, 0xffffffffu);
  EXPECT_EQ(cs.type, 0xb);
  EXPECT_EQ(cs.present, 1);
  EXPECT_EQ(cs.selector, 0x10);
}

TEST(BootCpu, PvhCodeSegmentIs32Bit) {
  auto gdt = boot_gdt(EntryMode::kPvh32);
  kvm_segment cs = segment_from_gdt_entry(gdt[2], kBootCsSelector);
  EXPECT_EQ(cs.l, 0);
  EXPECT_EQ(cs.db, 1);
}

TEST(BootCpu, SregsForLongModeAndPvh) {
  kvm_sregs reset{};
  reset.cr0 = 0x60000010;  // KVM's reset value: CD|NW|ET
  kvm_sregs lm = boot_sregs(reset, EntryMode::kLinux64);
  EXPECT_EQ(lm.cr0 & 0x80000001, 0x80000001u);
  EXPECT_EQ(lm.cr0 & 0x60000000, 0u);
  EXPECT_EQ(lm.cr3, layout::kPml4Addr);
  EXPECT_TRUE(lm.cr4 & 0x20);
  EXPECT_EQ(lm.efer & 0x500, 0x500u);
  EXPECT_EQ(lm.ds.selector, kBootDsSelector);

  kvm_sregs pvh = boot_sregs(reset, EntryMode::kPvh32);
  EXPECT_EQ(pvh.cr0 & 0x80000001, 0x1u);
  EXPECT_EQ(pvh.efer, 0u);
}

TEST(BootCpu, RegsPointAtBootInfo) {
  EXPECT_EQ(boot_regs(EntryMode::kLinux64, 0x1000000).rsi, layout::kZeroPageAddr);
  auto pvh = boot_regs(EntryMode::kPvh32, 0x100000);
  EXPECT_EQ(pvh.rbx, layout::kPvhStartInfoAddr);
  EXPECT_EQ(pvh.rip, 0x100000u);
  EXPECT_EQ(pvh.rflags, 2u);
}

TEST(BootCpu, PageTablesIdentityMapFourGiB) {
  auto mem = GuestMemory::create_anonymous({{0, 0x100000}});
  write_boot_tables(mem, EntryMode::kLinux64);
  EXPECT_EQ(mem.read_obj<uint64_t>(layout::kPml4Addr), layout::kPdptAddr | 3);
  // Walk the address 0xC0200000 (PDPT index 3, PD index 1).
  uint64_t pdpte = mem.read_obj<uint64_t>(layout::kPdptAddr + 3 * 8);
  uint64_t pde = mem.read_obj<uint64_t>((pdpte & ~0xfffull) + 1 * 8);
  EXPECT_EQ(pde & ~0xfffull, 0xC0200000ull);
  EXPECT_EQ(pde & 0x83, 0x83u);
  EXPECT_EQ(mem.read_obj<uint64_t>(layout::kGdtAddr + 2 * 8), boot_gdt(EntryMode::kLinux64)[2]);
}

TEST(BootCpu, LapicLintModes) {
  kvm_lapic_state lapic{};
  lapic.regs[0x351] = 0x07;  // garbage delivery mode bits to be replaced
  auto out = boot_lapic(lapic);
  EXPECT_EQ((out.regs[0x351] & 0x7), 7);  // ExtINT in bits 10:8
  EXPECT_EQ((out.regs[0x361] & 0x7), 4);  // NMI
}

}  // namespace
}  // namespace hearth::arch
