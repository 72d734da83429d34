#pragma once
// bzImage (Linux boot protocol >= 2.12 with a 64-bit entry): parsing and placement, no guest memory.
#include <cstdint>
#include <span>

#include "vmm/loader/boot_params.h"

namespace hearth::loader {

inline constexpr uint64_t kBzImage64BitEntryOffset = 0x200;  // startup_64 relative to the load address

struct BzImage {
  SetupHeader header{};     // as found in the image; bytes past the header's declared end are zero
  uint64_t payload_offset = 0;  // protected-mode kernel: (setup_sects + 1) * 512
  uint64_t payload_size = 0;
};

struct BzImagePlacement {
  uint64_t load_addr = 0;  // where the payload is copied
  uint64_t end = 0;        // one past the highest byte the kernel uses while decompressing (init_size)
};

// True when `image` carries "HdrS" at 0x202.
bool has_bzimage_magic(std::span<const uint8_t> image);

// Validates the setup header and the file layout. Throws Error("kernel image: ...").
BzImage parse_bzimage(std::span<const uint8_t> image);

// Loads at pref_address when the kernel's footprint fits in [1 MiB, low_ram_end), else at 1 MiB when the
// kernel is relocatable. Throws Error when neither fits.
BzImagePlacement place_bzimage(const BzImage& bz, uint64_t low_ram_end);

}  // namespace hearth::loader
