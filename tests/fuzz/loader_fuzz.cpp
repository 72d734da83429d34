// libFuzzer target: kernel image parsing and loading (ELF, PVH note, bzImage) on hostile bytes, read
// from a file through the host-file helper as the VMM reads it. Every rejection must be a
// hearth::Error; anything else (crash, other exception, sanitizer report) is a bug.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/base/host_file.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/elf.h"
#include "vmm/loader/kernel_image.h"

using hearth::Error;

namespace {

// The input as a file: the helper must return exactly these bytes, or refuse a file over `limit`.
std::vector<uint8_t> through_file(const uint8_t* data, size_t size, uint64_t limit) {
  hearth::UniqueFd fd(::memfd_create("fuzz-kernel", MFD_CLOEXEC));
  if (!fd || ::write(fd.get(), data, size) != static_cast<ssize_t>(size)) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
  try {
    auto bytes = hearth::read_host_file(path, "boot-source.kernel_image_path", limit);
    if (bytes.size() != size || size > limit || !std::equal(bytes.begin(), bytes.end(), data)) std::abort();
    return bytes;
  } catch (const Error&) {
    if (size <= limit) std::abort();  // a file within the limit must be read
    return {};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const hearth::GuestMemory memory = hearth::GuestMemory::create_anonymous({{0, 64u << 20}});
  // The first byte picks a size limit, so both sides of the check are exercised.
  const uint64_t limit = size ? uint64_t{data[0]} << 8 : 0;
  const std::vector<uint8_t> file_bytes = through_file(data, size, limit ? limit : UINT64_MAX);
  if (limit && size > limit) return 0;
  const std::span<const uint8_t> image(file_bytes);
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
