#pragma once
// Builders for crafted kernel images, so every loader test states the exact bytes it feeds in.
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <optional>
#include <vector>

#include "tests/unit/error_of.h"
#include "vmm/base/error.h"
#include "vmm/loader/boot_params.h"

namespace hearth::loader::test {

inline constexpr uint64_t kMiB = 1ull << 20;

template <typename T>
void poke(std::vector<uint8_t>& bytes, uint64_t offset, const T& value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}
template <typename T>
T peek(const std::vector<uint8_t>& bytes, uint64_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

using hearth::test::error_of;

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

// One ELF note: namesz/descsz/type, name and desc each padded to 4 bytes.
inline std::vector<uint8_t> elf_note(const std::string& name, uint32_t type, const std::vector<uint8_t>& desc) {
  const size_t name_padded = (name.size() + 1 + 3) / 4 * 4;
  const size_t desc_padded = (desc.size() + 3) / 4 * 4;
  std::vector<uint8_t> out(12 + name_padded + desc_padded, 0);
  poke<uint32_t>(out, 0, static_cast<uint32_t>(name.size() + 1));
  poke<uint32_t>(out, 4, static_cast<uint32_t>(desc.size()));
  poke<uint32_t>(out, 8, type);
  std::memcpy(out.data() + 12, name.data(), name.size());
  if (!desc.empty()) std::memcpy(out.data() + 12 + name_padded, desc.data(), desc.size());
  return out;
}

inline std::vector<uint8_t> le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }
inline std::vector<uint8_t> le64(uint64_t v) {
  auto lo = le32(static_cast<uint32_t>(v));
  auto hi = le32(static_cast<uint32_t>(v >> 32));
  lo.insert(lo.end(), hi.begin(), hi.end());
  return lo;
}

// ELF64 x86-64 ET_EXEC: header, program headers right after it, then each segment's bytes.
class ElfBuilder {
 public:
  ElfBuilder& load(uint64_t paddr, std::vector<uint8_t> data, uint64_t memsz, uint64_t vaddr = UINT64_MAX) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_paddr = paddr;
    ph.p_vaddr = vaddr == UINT64_MAX ? paddr : vaddr;
    ph.p_filesz = data.size();
    ph.p_memsz = memsz;
    ph.p_align = 0x1000;
    add(ph, std::move(data));
    return *this;
  }
  ElfBuilder& note(std::vector<uint8_t> data) {
    Elf64_Phdr ph{};
    ph.p_type = PT_NOTE;
    ph.p_filesz = data.size();
    ph.p_align = 4;
    add(ph, std::move(data));
    return *this;
  }
  ElfBuilder& entry(uint64_t e) {
    entry_ = e;
    return *this;
  }

  std::vector<uint8_t> build() const {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry_;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phdrs_.size());
    std::vector<uint8_t> out(sizeof(Elf64_Ehdr) + phdrs_.size() * sizeof(Elf64_Phdr));
    poke(out, 0, eh);
    for (size_t i = 0; i < phdrs_.size(); ++i) {
      while (out.size() % 16) out.push_back(0);
      Elf64_Phdr ph = phdrs_[i];
      ph.p_offset = out.size();
      poke(out, sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), ph);
      out.insert(out.end(), data_[i].begin(), data_[i].end());
    }
    return out;
  }

 private:
  void add(const Elf64_Phdr& ph, std::vector<uint8_t> data) {
    phdrs_.push_back(ph);
    data_.push_back(std::move(data));
  }
  uint64_t entry_ = 0;
  std::vector<Elf64_Phdr> phdrs_;
  std::vector<std::vector<uint8_t>> data_;
};

inline constexpr uint64_t kPhdr0 = sizeof(Elf64_Ehdr);  // offset of program header 0 in built images

template <typename F>
void patch_phdr(std::vector<uint8_t>& image, size_t i, F&& f) {
  auto ph = peek<Elf64_Phdr>(image, kPhdr0 + i * sizeof(Elf64_Phdr));
  f(ph);
  poke(image, kPhdr0 + i * sizeof(Elf64_Phdr), ph);
}

struct BzImageSpec {
  uint8_t setup_sects = 4;
  uint16_t version = 0x020f;
  uint16_t xloadflags = kXlfKernel64;
  uint8_t relocatable = 1;
  uint32_t kernel_alignment = 0x200000;
  uint64_t pref_address = 0x1000000;
  uint32_t init_size = 0x400000;
  uint32_t cmdline_size = 2047;
  uint32_t initrd_addr_max = 0x7fffffff;
  uint8_t header_len = kSetupHeaderEnd - 0x202;  // byte at 0x201
  size_t payload_size = 0x3000;
  std::optional<uint32_t> syssize;  // default: payload_size in 16-byte units
};

// A bzImage: boot sector + setup sectors holding the header, then the "protected-mode kernel".
inline std::vector<uint8_t> make_bzimage(const BzImageSpec& s) {
  const size_t sects = s.setup_sects == 0 ? 4 : s.setup_sects;
  std::vector<uint8_t> out = pattern((sects + 1) * 512, 0x11);
  SetupHeader h{};
  h.setup_sects = s.setup_sects;
  h.boot_flag = kBootFlagMagic;
  h.jump = static_cast<uint16_t>(0xeb | (s.header_len << 8));
  h.header = kHdrSMagic;
  h.version = s.version;
  h.loadflags = kLoadflagLoadedHigh;
  h.code32_start = 0x100000;
  h.initrd_addr_max = s.initrd_addr_max;
  h.kernel_alignment = s.kernel_alignment;
  h.relocatable_kernel = s.relocatable;
  h.min_alignment = 21;
  h.xloadflags = s.xloadflags;
  h.cmdline_size = s.cmdline_size;
  h.setup_data = 0xdeadbeef;  // must not reach the guest
  h.pref_address = s.pref_address;
  h.init_size = s.init_size;
  h.syssize = s.syssize.value_or(static_cast<uint32_t>((s.payload_size + 15) / 16));
  poke(out, kSetupHeaderStart, h);
  auto payload = pattern(s.payload_size, 0x42);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace hearth::loader::test
