#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/loader/test_images.h"
#include "vmm/loader/elf.h"
#include "vmm/loader/kernel_image.h"
#include "vmm/memory/touched_pages.h"

namespace hearth::loader {
namespace {

using namespace test;
using ::testing::HasSubstr;

GuestMemory ram128() { return GuestMemory::create_anonymous({{0, 128 * kMiB}}); }

std::vector<uint8_t> read_back(const GuestMemory& mem, uint64_t addr, size_t n) {
  std::vector<uint8_t> out(n);
  mem.read(addr, out);
  return out;
}

// One 64-byte segment (4 KiB in memory) at `base`, entered there, then `notes` as a PT_NOTE.
std::vector<uint8_t> image_with_notes(uint64_t base, const std::vector<uint8_t>& notes) {
  return ElfBuilder().load(base, pattern(64, 0), 0x1000).note(notes).entry(base).build();
}

TEST(ElfLoader, LoadsSegmentsAndZeroesBss) {
  auto mem = ram128();
  const auto text = pattern(0x1234, 1);
  const auto data = pattern(0x100, 9);
  const auto image = ElfBuilder().load(0x200000, text, 0x1234).load(0x300000, data, 0x3000).entry(0x200010).build();
  // Dirty the bss and the byte just past it, to see what gets zeroed.
  std::vector<uint8_t> junk(0x3001, 0xAA);
  mem.write(0x300000, junk);

  const LoadedKernel k = load_kernel(mem, image);
  EXPECT_EQ(k.format, KernelFormat::kElf);
  EXPECT_EQ(k.entry64, 0x200010u);
  EXPECT_FALSE(k.pvh_entry);
  EXPECT_FALSE(k.setup_header);
  EXPECT_EQ(k.kernel_start, 0x200000u);
  EXPECT_EQ(k.kernel_end, 0x303000u);
  EXPECT_EQ(read_back(mem, 0x200000, text.size()), text);
  EXPECT_EQ(read_back(mem, 0x300000, data.size()), data);
  EXPECT_EQ(read_back(mem, 0x300100, 0x2f00), std::vector<uint8_t>(0x2f00, 0));
  EXPECT_EQ(mem.read_obj<uint8_t>(0x303000), 0xAA);
}

TEST(ElfLoader, BssInFreshRamIsLeftUntouchedAndReadsAsZero) {
  auto mem = ram128();
  const auto data = pattern(0x100, 3);
  // 1 MiB of bss past one page of data: the first page is touched by the data, the rest must stay unfaulted.
  const auto image = ElfBuilder().load(0x400000, data, 0x101000).entry(0x400000).build();
  load_kernel(mem, image);
  const GuestMemory::Region& region = mem.regions().front();
  ASSERT_EQ(region.range.start, 0u);
  TouchedPages pages(region.mapping.data());
  EXPECT_TRUE(pages.touched(0x400000 / TouchedPages::kPageSize));
  for (uint64_t addr = 0x401000; addr < 0x501000; addr += TouchedPages::kPageSize) {
    ASSERT_FALSE(pages.touched(addr / TouchedPages::kPageSize)) << std::hex << addr;
  }
  EXPECT_EQ(read_back(mem, 0x400100, 0x100f00), std::vector<uint8_t>(0x100f00, 0));
}

TEST(ElfLoader, TranslatesVirtualEntryThroughItsSegment) {
  const auto image =
      ElfBuilder().load(0x1000000, pattern(64, 0), 0x1000, 0xffffffff81000000).entry(0xffffffff81000040).build();
  EXPECT_EQ(parse_elf(image).entry, 0x1000040u);
}

TEST(ElfLoader, RejectsEntryOutsideSegments) {
  const auto image = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x900000).build();
  EXPECT_EQ(error_of([&] { parse_elf(image); }),
            "kernel image: ELF entry point 0x900000 is not inside any loadable segment");
}

TEST(ElfLoader, FindsPvhNoteAfterOtherNotes) {
  std::vector<uint8_t> notes = elf_note("GNU", 3, pattern(20, 0));
  const auto other_xen = elf_note("Xen", 17, le32(0x1234));
  const auto pvh = elf_note("Xen", kXenElfnotePhys32Entry, le32(0x200100));
  notes.insert(notes.end(), other_xen.begin(), other_xen.end());
  notes.insert(notes.end(), pvh.begin(), pvh.end());
  const auto image = image_with_notes(0x200000, notes);
  auto mem = ram128();
  EXPECT_EQ(load_kernel(mem, image).pvh_entry, std::optional<uint32_t>(0x200100));
}

TEST(ElfLoader, AcceptsLinuxQuadPvhNote) {
  const auto image = image_with_notes(0x1000000, elf_note("Xen", kXenElfnotePhys32Entry, le64(0x1000020)));
  EXPECT_EQ(parse_elf(image).pvh_entry, std::optional<uint32_t>(0x1000020));
}

TEST(ElfLoader, PvhEntryAbsentWithoutXenNote) {
  const auto image = image_with_notes(0x200000, elf_note("Xem", kXenElfnotePhys32Entry, le32(0x200000)));
  EXPECT_FALSE(parse_elf(image).pvh_entry);
}

TEST(ElfLoader, RejectsTruncatedNotes) {
  auto note = elf_note("Xen", kXenElfnotePhys32Entry, le32(0x200000));
  auto cut_desc = note;
  cut_desc.resize(note.size() - 2);
  EXPECT_THAT(error_of([&] { find_pvh_entry(cut_desc); }), HasSubstr("ELF note at offset 0x0 extends past its segment"));
  auto cut_header = note;
  cut_header.resize(8);
  EXPECT_THAT(error_of([&] { find_pvh_entry(cut_header); }), HasSubstr("ELF note at offset 0x0 is truncated"));
  auto huge_name = note;
  poke<uint32_t>(huge_name, 0, 0xfffffffe);
  EXPECT_THAT(error_of([&] { find_pvh_entry(huge_name); }), HasSubstr("extends past its segment"));
  // The PT_NOTE header itself claims more bytes than the file has.
  auto image = image_with_notes(0x200000, note);
  patch_phdr(image, 1, [](Elf64_Phdr& ph) { ph.p_filesz += 0x100; });
  EXPECT_EQ(error_of([&] { parse_elf(image); }), "kernel image: ELF program header 1 extends past end of file");
}

TEST(ElfLoader, RejectsBadPvhValue) {
  EXPECT_THAT(error_of([&] { find_pvh_entry(elf_note("Xen", kXenElfnotePhys32Entry, {1, 2})); }),
              HasSubstr("2-byte value"));
  EXPECT_THAT(error_of([&] { find_pvh_entry(elf_note("Xen", kXenElfnotePhys32Entry, le64(1ull << 32))); }),
              HasSubstr("above 4 GiB"));
  const auto image = image_with_notes(0x200000, elf_note("Xen", kXenElfnotePhys32Entry, le32(0x500000)));
  EXPECT_EQ(error_of([&] { parse_elf(image); }),
            "kernel image: PVH entry point 0x500000 is not inside any loadable segment");
}

TEST(ElfLoader, RejectsTruncatedHeader) {
  auto image = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x200000).build();
  image.resize(40);
  auto mem = ram128();
  EXPECT_EQ(error_of([&] { load_kernel(mem, image); }), "kernel image: ELF header truncated (file is 40 bytes)");
}

TEST(ElfLoader, RejectsProgramHeaderTableBeyondEof) {
  auto image = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x200000).build();
  poke<uint16_t>(image, offsetof(Elf64_Ehdr, e_phnum), 100);
  EXPECT_EQ(error_of([&] { parse_elf(image); }),
            "kernel image: ELF program header table (100 entries at offset 0x40) extends past end of file");
  poke<uint16_t>(image, offsetof(Elf64_Ehdr, e_phnum), 1);
  poke<uint64_t>(image, offsetof(Elf64_Ehdr, e_phoff), UINT64_MAX - 8);
  EXPECT_THAT(error_of([&] { parse_elf(image); }), HasSubstr("extends past end of file"));
}

TEST(ElfLoader, RejectsOffsetPlusFileszOverflow) {
  auto image = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x200000).build();
  patch_phdr(image, 0, [](Elf64_Phdr& ph) { ph.p_offset = UINT64_MAX - 15; });
  EXPECT_EQ(error_of([&] { parse_elf(image); }), "kernel image: ELF program header 0 extends past end of file");
}

TEST(ElfLoader, RejectsFileszLargerThanMemsz) {
  const auto image = ElfBuilder().load(0x200000, pattern(64, 0), 32).entry(0x200000).build();
  EXPECT_EQ(error_of([&] { parse_elf(image); }),
            "kernel image: ELF program header 0 has p_filesz 0x40 larger than p_memsz 0x20");
}

TEST(ElfLoader, RejectsAddressWrap) {
  auto image = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x200000).build();
  patch_phdr(image, 0, [](Elf64_Phdr& ph) { ph.p_paddr = UINT64_MAX - 0x10; });
  EXPECT_EQ(error_of([&] { parse_elf(image); }), "kernel image: ELF program header 0 wraps past 2^64");
}

TEST(ElfLoader, RejectsSegmentOutsideRamWithoutWritingAnything) {
  auto mem = ram128();
  const auto image =
      ElfBuilder().load(0x200000, pattern(64, 3), 64).load(127 * kMiB, pattern(64, 0), 2 * kMiB).entry(0x200000).build();
  EXPECT_EQ(error_of([&] { load_kernel(mem, image); }),
            "kernel image: ELF program header 1 (0x7f00000-0x8100000) is outside guest RAM");
  EXPECT_EQ(read_back(mem, 0x200000, 64), std::vector<uint8_t>(64, 0));
}

TEST(ElfLoader, RejectsSegmentBelowOneMiB) {
  const auto image = ElfBuilder().load(0x7000, pattern(64, 0), 64).entry(0x7000).build();
  EXPECT_EQ(error_of([&] { parse_elf(image); }),
            "kernel image: ELF program header 0 loads at 0x7000, below 1 MiB where boot structures live");
}

TEST(ElfLoader, RejectsOverlappingSegments) {
  const auto image =
      ElfBuilder().load(0x200000, pattern(64, 0), 0x2000).load(0x201000, pattern(64, 0), 64).entry(0x200000).build();
  EXPECT_EQ(error_of([&] { parse_elf(image); }), "kernel image: ELF program headers 0 and 1 overlap");
}

TEST(ElfLoader, RejectsWrongIdentity) {
  const auto good = ElfBuilder().load(0x200000, pattern(64, 0), 0x1000).entry(0x200000).build();
  auto wrong_class = good;
  wrong_class[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(error_of([&] { parse_elf(wrong_class); }), "kernel image: ELF class 1 is not ELF64");
  auto wrong_machine = good;
  poke<uint16_t>(wrong_machine, offsetof(Elf64_Ehdr, e_machine), EM_386);
  EXPECT_EQ(error_of([&] { parse_elf(wrong_machine); }), "kernel image: ELF machine 3 is not x86-64 (62)");
  auto wrong_type = good;
  poke<uint16_t>(wrong_type, offsetof(Elf64_Ehdr, e_type), ET_DYN);
  EXPECT_EQ(error_of([&] { parse_elf(wrong_type); }), "kernel image: ELF type 3 is not an executable (ET_EXEC)");
  auto big_endian = good;
  big_endian[EI_DATA] = ELFDATA2MSB;
  EXPECT_THAT(error_of([&] { parse_elf(big_endian); }), HasSubstr("not little-endian"));
  auto no_phdrs = good;
  poke<uint16_t>(no_phdrs, offsetof(Elf64_Ehdr, e_phnum), 0);
  EXPECT_EQ(error_of([&] { parse_elf(no_phdrs); }), "kernel image: ELF has no program headers");
}

TEST(ElfLoader, RejectsImageWithoutLoadableSegments) {
  const auto image = ElfBuilder().note(elf_note("GNU", 3, pattern(8, 0))).build();
  EXPECT_EQ(error_of([&] { parse_elf(image); }), "kernel image: ELF has no loadable segments");
}

TEST(KernelImage, RejectsUnknownFormat) {
  auto mem = ram128();
  const std::vector<uint8_t> junk = pattern(4096, 5);
  EXPECT_EQ(error_of([&] { load_kernel(mem, junk); }), "kernel image: not an ELF64 x86-64 vmlinux or a bzImage");
  EXPECT_EQ(error_of([&] { load_kernel(mem, std::span<const uint8_t>()); }),
            "kernel image: not an ELF64 x86-64 vmlinux or a bzImage");
}

}  // namespace
}  // namespace hearth::loader
