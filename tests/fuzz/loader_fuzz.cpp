// libFuzzer target: kernel image parsing and loading (ELF, PVH note, bzImage) on hostile bytes.
// Every rejection must be a hearth::Error; anything else (crash, other exception, sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "vmm/base/error.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/elf.h"
#include "vmm/loader/kernel_image.h"

using hearth::Error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const hearth::GuestMemory memory = hearth::GuestMemory::create_anonymous({{0, 64u << 20}});
  const std::span<const uint8_t> image(data, size);
  try {
    (void)hearth::loader::load_kernel(memory, image);
  } catch (const Error&) {
  }
  try {
    (void)hearth::loader::find_pvh_entry(image);
  } catch (const Error&) {
  }
  try {
    (void)hearth::loader::place_bzimage(hearth::loader::parse_bzimage(image), 64u << 20);
  } catch (const Error&) {
  }
  return 0;
}
