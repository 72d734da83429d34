#include "vmm/loader/bzimage.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>

#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/loader/bytes.h"

namespace hearth::loader {
namespace {

constexpr uint64_t kMagicOffset = 0x202;
constexpr uint64_t kJumpOffsetByte = 0x201;  // 0x202 + this byte = end of the setup header
constexpr uint64_t kSectorSize = 512;
constexpr uint16_t kMinProtocol = 0x0206;
constexpr uint16_t kKernel64Protocol = 0x020c;  // xloadflags appear in 2.12
constexpr uint64_t kHeaderEndFor64 = offsetof(SetupHeader, init_size) + sizeof(uint32_t) + kSetupHeaderStart;

[[noreturn]] void fail(const std::string& what) { throw Error("kernel image: " + what); }

std::string protocol(uint16_t v) { return fmt::format("{}.{:02}", v >> 8, v & 0xff); }

// One past the highest address the kernel touches when loaded at `load`, nullopt on overflow.
// Mirrors head_64.S: a relocatable kernel decompresses at max(align_up(load, kernel_alignment),
// pref_address), a fixed one at pref_address, and needs init_size bytes there.
std::optional<uint64_t> footprint_end(const BzImage& bz, uint64_t load) {
  const SetupHeader& h = bz.header;
  if (load > UINT64_MAX - bz.payload_size) return std::nullopt;
  uint64_t run = h.pref_address;
  if (h.relocatable_kernel) {
    const auto aligned = align_up(load, h.kernel_alignment);
    if (!aligned) return std::nullopt;
    run = std::max(*aligned, run);
  }
  if (run > UINT64_MAX - h.init_size) return std::nullopt;
  return std::max(load + bz.payload_size, run + h.init_size);
}

// The protected-mode kernel is syssize 16-byte paragraphs (boot protocol 2.04+); a file shorter than
// that is truncated and would boot into garbage, so it is refused here with the field named.
void check_payload(BzImage& bz, uint64_t file_size) {
  const SetupHeader& h = bz.header;
  const uint64_t available = file_size - bz.payload_offset;
  const uint64_t declared = uint64_t{h.syssize} * 16;
  if (declared == 0) fail("bzImage setup_header.syssize is 0 (no protected-mode kernel)");
  if (declared > available) {
    fail(fmt::format("bzImage is truncated: setup_header.syssize declares a {}-byte kernel after setup_sects {} but "
                     "the file holds only {} bytes there",
                     declared, bz.payload_offset / kSectorSize - 1, available));
  }
  bz.payload_size = declared;
  if (h.version >= 0x0208 && (h.payload_offset != 0 || h.payload_length != 0) &&
      uint64_t{h.payload_offset} + h.payload_length > declared) {
    fail(fmt::format("bzImage setup_header.payload_offset {:#x} + payload_length {:#x} extends past the {}-byte kernel "
                     "(syssize)",
                     uint32_t{h.payload_offset}, uint32_t{h.payload_length}, declared));
  }
  if (h.version >= 0x020a && h.init_size < declared) {
    fail(fmt::format("bzImage setup_header.init_size {:#x} is smaller than the {:#x}-byte kernel it must hold",
                     uint32_t{h.init_size}, declared));
  }
}

}  // namespace

bool has_bzimage_magic(std::span<const uint8_t> image) {
  const auto magic = read_le<uint32_t>(image, kMagicOffset);
  return magic && *magic == kHdrSMagic;
}

BzImage parse_bzimage(std::span<const uint8_t> image) {
  if (!has_bzimage_magic(image)) fail("no bzImage \"HdrS\" magic at 0x202");
  const uint64_t sects = image[kSetupHeaderStart] == 0 ? 4 : image[kSetupHeaderStart];  // 0 means 4
  BzImage bz;
  bz.payload_offset = (sects + 1) * kSectorSize;
  if (bz.payload_offset >= image.size()) {
    fail(fmt::format("bzImage setup ({} sectors) extends past end of file ({} bytes)", sects, image.size()));
  }

  // The setup area is at least 1 KiB, so the whole header lies inside the file; copy only its declared part.
  const uint64_t hdr_end = std::min<uint64_t>(kMagicOffset + image[kJumpOffsetByte], kSetupHeaderEnd);
  std::memcpy(&bz.header, image.data() + kSetupHeaderStart, hdr_end - kSetupHeaderStart);
  const SetupHeader& h = bz.header;

  if (h.version < kMinProtocol) {
    fail(fmt::format("bzImage boot protocol {} is too old (need {} or later)", protocol(h.version),
                     protocol(kMinProtocol)));
  }
  if (h.version >= kKernel64Protocol && hdr_end < kHeaderEndFor64) {
    fail(fmt::format("bzImage setup header ends at {:#x}, too short for boot protocol {}", hdr_end,
                     protocol(h.version)));
  }
  if (h.version < kKernel64Protocol || !(h.xloadflags & kXlfKernel64)) {
    fail(fmt::format("bzImage has no 64-bit entry point (boot protocol {}, XLF_KERNEL_64 not set)",
                     protocol(h.version)));
  }
  if (h.relocatable_kernel && !std::has_single_bit(h.kernel_alignment)) {
    fail(fmt::format("bzImage kernel_alignment {:#x} is not a power of two", uint32_t{h.kernel_alignment}));
  }
  check_payload(bz, image.size());
  return bz;
}

BzImagePlacement place_bzimage(const BzImage& bz, uint64_t low_ram_end) {
  auto fits = [&](uint64_t load) -> std::optional<BzImagePlacement> {
    const auto end = footprint_end(bz, load);
    if (load < layout::kHimemStart || !end || *end > low_ram_end) return std::nullopt;
    return BzImagePlacement{load, *end};
  };
  if (auto at_pref = fits(bz.header.pref_address)) return *at_pref;
  if (bz.header.relocatable_kernel) {
    if (auto at_himem = fits(layout::kHimemStart)) return *at_himem;
  }
  fail(fmt::format("bzImage needs {:#x} bytes (init_size) at {:#x} but guest RAM below the MMIO gap ends at {:#x}",
                   uint32_t{bz.header.init_size}, uint64_t{bz.header.pref_address}, low_ram_end));
}

}  // namespace hearth::loader
