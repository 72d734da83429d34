#pragma once
// ELF64 x86-64 executables (vmlinux, the test guest): parsing only, no guest memory.
// Every header field is checked against the file; errors say which header is wrong.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hearth::loader {

inline constexpr uint32_t kXenElfnotePhys32Entry = 18;  // XEN_ELFNOTE_PHYS32_ENTRY

struct ElfSegment {
  uint32_t index = 0;        // program header number, for messages
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  uint64_t paddr = 0;
  uint64_t mem_size = 0;     // >= file_size; the tail is zeroed (bss)
};

struct ElfImage {
  uint64_t entry = 0;                 // physical 64-bit entry
  std::optional<uint32_t> pvh_entry;  // physical 32-bit PVH entry from the Xen note
  std::vector<ElfSegment> segments;   // PT_LOADs with p_memsz > 0, sorted by paddr, disjoint
};

// True when `image` starts with the ELF magic (the caller then commits to parse_elf's errors).
bool has_elf_magic(std::span<const uint8_t> image);

// Validates and describes an ELF64 x86-64 ET_EXEC image. Segments must load at or above
// layout::kHimemStart. Throws Error("kernel image: ...") naming the bad field.
ElfImage parse_elf(std::span<const uint8_t> image);

// The PVH entry from the notes in one PT_NOTE segment's bytes, nullopt when it has none.
// Throws Error when a note runs past the segment or the entry value is malformed.
std::optional<uint32_t> find_pvh_entry(std::span<const uint8_t> notes);

}  // namespace hearth::loader
