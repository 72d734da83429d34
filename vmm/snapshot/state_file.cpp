// The state file's framing: header, JSON body, CRC-64 trailer (docs/snapshot-format.md).
#include "vmm/snapshot/state_file.h"

#include <lzma.h>

#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/config/json_reader.h"
#include "vmm/snapshot/state_file_json.h"

namespace hearth::snapshot {
namespace {

constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'S', 'N'};
constexpr size_t kHeaderBytes = 24;  // magic, u32 version, u32 flags, u64 body length
constexpr size_t kTrailerBytes = 8;  // u64 CRC-64/XZ of everything before it
constexpr size_t kMinBytes = kHeaderBytes + kTrailerBytes;

uint32_t load_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_le(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The magic as text when it is printable, else hex: a user can tell "a JSON file" from "random bytes".
std::string describe_magic(const uint8_t* p) {
  bool printable = true;
  for (size_t i = 0; i < sizeof(kMagic); ++i) printable = printable && p[i] >= 0x20 && p[i] < 0x7f;
  if (printable) return fmt::format("\"{}\"", std::string_view(reinterpret_cast<const char*>(p), sizeof(kMagic)));
  std::string hex = "0x";
  for (size_t i = 0; i < sizeof(kMagic); ++i) hex += fmt::format("{:02x}", p[i]);
  return hex;
}

}  // namespace

std::string_view to_string(SnapshotType type) { return type == SnapshotType::kDiff ? "Diff" : "Full"; }

uint64_t crc64(std::span<const uint8_t> bytes) { return lzma_crc64(bytes.data(), bytes.size(), 0); }

std::vector<uint8_t> encode_state_file(const StateFile& state) {
  std::string body;
  try {
    body = state_to_json(state).dump();
  } catch (const nlohmann::json::exception& e) {
    // Only a string that is not UTF-8 gets here.
    throw Error(fmt::format("snapshot state: cannot encode: {}", e.what()));
  }
  std::vector<uint8_t> out(kMinBytes + body.size());
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  store_le(out.data() + 8, kFormatVersion, 4);
  store_le(out.data() + 12, 0, 4);  // flags: none defined
  store_le(out.data() + 16, body.size(), 8);
  std::memcpy(out.data() + kHeaderBytes, body.data(), body.size());
  const size_t crc_at = out.size() - kTrailerBytes;
  store_le(out.data() + crc_at, crc64(std::span(out).first(crc_at)), 8);
  return out;
}

StateFileHeader read_state_file_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinBytes) {
    throw Error(fmt::format("truncated: {} bytes, a state file has at least {}", bytes.size(), kMinBytes));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    throw Error(fmt::format("not a Hearth snapshot state file (magic {}, expected \"HEARTHSN\")",
                            describe_magic(bytes.data())));
  }
  StateFileHeader header;
  header.format_version = load_u32(bytes.data() + 8);
  header.flags = load_u32(bytes.data() + 12);
  header.body_bytes = load_u64(bytes.data() + 16);
  // The trailer is the last 8 bytes whatever the header claims; decode checks the claim.
  const size_t crc_at = bytes.size() - kTrailerBytes;
  header.stored_crc = load_u64(bytes.data() + crc_at);
  header.computed_crc = crc64(bytes.first(crc_at));
  return header;
}

StateFile decode_state_file(std::span<const uint8_t> bytes) {
  const StateFileHeader header = read_state_file_header(bytes);
  if (header.format_version > kFormatVersion || header.format_version < kOldestReadableVersion) {
    throw Error(fmt::format("format version {} is not supported (this build reads versions {} to {})",
                            header.format_version, kOldestReadableVersion, kFormatVersion));
  }
  if (header.flags != 0) {
    throw Error(fmt::format("header flags 0x{:08x} are not understood (version {} defines none)", header.flags,
                            header.format_version));
  }
  const uint64_t room = bytes.size() - kMinBytes;
  if (header.body_bytes > room) {
    throw Error(fmt::format("truncated: the header gives a body of {} bytes, but the file of {} bytes holds at most {}",
                            header.body_bytes, bytes.size(), room));
  }
  if (header.body_bytes < room) {
    throw Error(fmt::format("{} unexpected bytes: the header gives a body of {} bytes, so the file should be {} "
                            "bytes, not {}",
                            room - header.body_bytes, header.body_bytes, header.body_bytes + kMinBytes,
                            bytes.size()));
  }
  if (!header.crc_ok()) {
    throw Error(fmt::format("CRC mismatch: stored 0x{:016x}, computed 0x{:016x} (the file is corrupt)",
                            header.stored_crc, header.computed_crc));
  }
  const std::span<const uint8_t> body = bytes.subspan(kHeaderBytes, header.body_bytes);
  const nlohmann::json json =
      parse_json(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()), "state file body");
  return state_from_json(json, header.format_version);
}

StateFile read_state_file(const std::string& path, std::string_view what) {
  const std::vector<uint8_t> bytes = read_host_file(path, what, kMaxStateFileBytes, "a snapshot state file");
  try {
    return decode_state_file(bytes);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: '{}': {}", what, path, e.what()));
  }
}

}  // namespace hearth::snapshot
