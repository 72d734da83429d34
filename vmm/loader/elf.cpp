#include "vmm/loader/elf.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/bytes.h"

namespace hearth::loader {
namespace {

[[noreturn]] void fail(const std::string& what) { throw Error("kernel image: " + what); }

void check_ident(std::span<const uint8_t> image, const Elf64_Ehdr& eh) {
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) fail(fmt::format("ELF class {} is not ELF64", eh.e_ident[EI_CLASS]));
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) fail("ELF data encoding is not little-endian");
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) {
    fail(fmt::format("ELF version {} is not 1", eh.e_version));
  }
  if (eh.e_machine != EM_X86_64) fail(fmt::format("ELF machine {} is not x86-64 ({})", eh.e_machine, EM_X86_64));
  if (eh.e_type != ET_EXEC) fail(fmt::format("ELF type {} is not an executable (ET_EXEC)", eh.e_type));
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    fail(fmt::format("ELF program header size {} is not {}", eh.e_phentsize, sizeof(Elf64_Phdr)));
  }
  if (eh.e_phnum == 0) fail("ELF has no program headers");
  if (eh.e_phnum == PN_XNUM) fail("ELF extended program header numbering is not supported");
  if (!in_bounds(image.size(), eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
    fail(fmt::format("ELF program header table ({} entries at offset {:#x}) extends past end of file", eh.e_phnum,
                     eh.e_phoff));
  }
}

ElfSegment check_load(std::span<const uint8_t> image, uint32_t i, const Elf64_Phdr& ph) {
  if (ph.p_filesz > ph.p_memsz) {
    fail(fmt::format("ELF program header {} has p_filesz {:#x} larger than p_memsz {:#x}", i, ph.p_filesz,
                     ph.p_memsz));
  }
  if (!in_bounds(image.size(), ph.p_offset, ph.p_filesz)) {
    fail(fmt::format("ELF program header {} extends past end of file", i));
  }
  if (ph.p_paddr > UINT64_MAX - ph.p_memsz) fail(fmt::format("ELF program header {} wraps past 2^64", i));
  // Below 1 MiB live the zero page, page tables, command line and ACPI tables.
  if (ph.p_paddr < layout::kHimemStart) {
    fail(fmt::format("ELF program header {} loads at {:#x}, below 1 MiB where boot structures live", i,
                     ph.p_paddr));
  }
  return {i, ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz};
}

// Linux's vmlinux has a physical e_entry; a virtual one is translated through its segment.
uint64_t physical_entry(const Elf64_Ehdr& eh, std::span<const Elf64_Phdr> loads) {
  for (const auto& ph : loads) {
    if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz) return eh.e_entry;
  }
  for (const auto& ph : loads) {
    if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) return ph.p_paddr + (eh.e_entry - ph.p_vaddr);
  }
  fail(fmt::format("ELF entry point {:#x} is not inside any loadable segment", eh.e_entry));
}

bool inside_segments(uint64_t addr, const std::vector<ElfSegment>& segments) {
  return std::any_of(segments.begin(), segments.end(),
                     [&](const ElfSegment& s) { return addr >= s.paddr && addr - s.paddr < s.mem_size; });
}

}  // namespace

bool has_elf_magic(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

std::optional<uint32_t> find_pvh_entry(std::span<const uint8_t> notes) {
  static constexpr uint8_t kXenName[4] = {'X', 'e', 'n', '\0'};
  uint64_t pos = 0;
  // Note fields are 4-byte aligned in both ELF classes as Linux and Xen emit them.
  while (pos < notes.size()) {
    const auto namesz = read_le<uint32_t>(notes, pos);
    const auto descsz = read_le<uint32_t>(notes, pos + 4);
    const auto type = read_le<uint32_t>(notes, pos + 8);
    if (!namesz || !descsz || !type) fail(fmt::format("ELF note at offset {:#x} is truncated", pos));
    const uint64_t name_at = pos + 12;
    const uint64_t desc_at = name_at + *align_up(*namesz, 4);  // u32 values cannot overflow u64 here
    if (!in_bounds(notes.size(), name_at, *namesz) || !in_bounds(notes.size(), desc_at, *descsz)) {
      fail(fmt::format("ELF note at offset {:#x} extends past its segment", pos));
    }
    if (*type == kXenElfnotePhys32Entry && *namesz == sizeof(kXenName) &&
        std::memcmp(notes.data() + name_at, kXenName, sizeof(kXenName)) == 0) {
      // Xen documents a .long; Linux emits a .quad whose upper half is zero.
      if (*descsz != 4 && *descsz != 8) fail(fmt::format("PVH entry note has a {}-byte value, not 4 or 8", *descsz));
      if (*descsz == 8 && *read_le<uint32_t>(notes, desc_at + 4) != 0) fail("PVH entry note points above 4 GiB");
      return *read_le<uint32_t>(notes, desc_at);
    }
    pos = desc_at + *align_up(*descsz, 4);
  }
  return std::nullopt;
}

ElfImage parse_elf(std::span<const uint8_t> image) {
  const auto eh = read_le<Elf64_Ehdr>(image, 0);
  if (!eh) fail(fmt::format("ELF header truncated (file is {} bytes)", image.size()));
  check_ident(image, *eh);

  ElfImage out;
  std::vector<Elf64_Phdr> loads;
  std::vector<Elf64_Phdr> notes;
  for (uint32_t i = 0; i < eh->e_phnum; ++i) {
    const auto ph = *read_le<Elf64_Phdr>(image, eh->e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_LOAD && ph.p_memsz > 0) {
      out.segments.push_back(check_load(image, i, ph));
      loads.push_back(ph);
    } else if (ph.p_type == PT_NOTE) {
      if (!in_bounds(image.size(), ph.p_offset, ph.p_filesz)) {
        fail(fmt::format("ELF program header {} extends past end of file", i));
      }
      notes.push_back(ph);
    }
  }
  if (out.segments.empty()) fail("ELF has no loadable segments");

  std::sort(out.segments.begin(), out.segments.end(),
            [](const ElfSegment& a, const ElfSegment& b) { return a.paddr < b.paddr; });
  for (size_t i = 1; i < out.segments.size(); ++i) {
    const ElfSegment& prev = out.segments[i - 1];
    if (prev.paddr + prev.mem_size > out.segments[i].paddr) {
      fail(fmt::format("ELF program headers {} and {} overlap", prev.index, out.segments[i].index));
    }
  }

  out.entry = physical_entry(*eh, loads);
  for (const auto& ph : notes) {
    out.pvh_entry = find_pvh_entry(image.subspan(ph.p_offset, ph.p_filesz));
    if (out.pvh_entry) break;
  }
  if (out.pvh_entry && !inside_segments(*out.pvh_entry, out.segments)) {
    fail(fmt::format("PVH entry point {:#x} is not inside any loadable segment", *out.pvh_entry));
  }
  return out;
}

}  // namespace hearth::loader
