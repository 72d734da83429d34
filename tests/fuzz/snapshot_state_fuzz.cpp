// libFuzzer target: untrusted bytes as a snapshot state file. Only hearth::Error may come out; anything
// else (another exception type, a sanitizer report, a round trip that changes the state) is a bug.
// Each input is tried twice: as a whole file, and as a body inside a valid header and CRC, so the
// JSON field checks are reached and not only the framing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "vmm/base/error.h"
#include "vmm/snapshot/state_file.h"
#include "vmm/snapshot/state_file_json.h"

namespace {

using namespace hearth::snapshot;

void store_le(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> frame(std::span<const uint8_t> body) {
  std::vector<uint8_t> file(32 + body.size());
  std::memcpy(file.data(), "HEARTHSN", 8);
  store_le(file.data() + 8, kFormatVersion, 4);
  store_le(file.data() + 16, body.size(), 8);
  if (!body.empty()) std::memcpy(file.data() + 24, body.data(), body.size());
  store_le(file.data() + 24 + body.size(), crc64(std::span(file).first(24 + body.size())), 8);
  return file;
}

void try_decode(std::span<const uint8_t> bytes) {
  StateFile state;
  try {
    state = decode_state_file(bytes);
  } catch (const hearth::Error&) {
    return;
  }
  // What decodes must encode, and decode again to the same state.
  const StateFile again = decode_state_file(encode_state_file(state));
  if (state_to_json(again) != state_to_json(state)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  try {
    const StateFileHeader header = read_state_file_header(input);
    if (header.crc_ok() != (header.stored_crc == header.computed_crc)) std::abort();
  } catch (const hearth::Error&) {
  }
  try_decode(input);
  try_decode(frame(input));
  return 0;
}
