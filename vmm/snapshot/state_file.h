#pragma once
// The snapshot state file: everything but guest memory, in one versioned, CRC-checked file.
// docs/snapshot-format.md describes the bytes; this is the only code that reads or writes them.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "devices/model/device.h"

namespace hearth::snapshot {

// Bumped whenever the layout or the meaning of a field changes; docs/snapshot-format.md lists each.
inline constexpr uint32_t kFormatVersion = 1;
// Oldest version this build still reads (the compatibility rule: older ones are refused naming both).
inline constexpr uint32_t kOldestReadableVersion = 1;
// A state file is KVM state plus device JSON: a few hundred KiB at most. Larger is refused unread.
inline constexpr uint64_t kMaxStateFileBytes = 64ull << 20;

enum class SnapshotType { kFull, kDiff };
std::string_view to_string(SnapshotType type);  // "Full" | "Diff"

// One guest RAM region and where its bytes sit in the memory file.
struct MemoryRegionLayout {
  uint64_t guest_addr = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;
};

// A drive's backing file as it was at snapshot time; a load refuses a missing file or a changed size.
struct DriveRecord {
  std::string drive_id;
  std::string path_on_host;
  uint64_t size_bytes = 0;
};

struct StateFile {
  uint32_t format_version = kFormatVersion;  // of the file read; files are always written as kFormatVersion
  std::string hearth_version;
  SnapshotType type = SnapshotType::kFull;
  uint64_t created_unix_ms = 0;
  // The VM's configuration (the shape of GET /vm/config). Opaque here: the layer above renders and parses it.
  // Decoding requires it (and `machine`) to be a JSON object.
  nlohmann::json vm_config;
  std::vector<MemoryRegionLayout> memory;
  std::vector<DriveRecord> drives;
  // KVM's state: {vm, vcpus} as vmm/core's MachineState JSON. Opaque here.
  nlohmann::json machine;
  std::vector<DeviceState> devices;
};

// The file's bytes. Never fails for a StateFile that JSON can hold.
std::vector<uint8_t> encode_state_file(const StateFile& state);
// Throws Error naming what is wrong: magic, version (both numbers), truncation, CRC mismatch (both values),
// a missing or mistyped field (by name). Never reads past `bytes`.
StateFile decode_state_file(std::span<const uint8_t> bytes);

// What `hearth-snapshot info` prints, without trusting more than the header: magic, version, lengths,
// stored and computed CRC. Throws only when even the header cannot be read.
struct StateFileHeader {
  uint32_t format_version = 0;
  uint32_t flags = 0;  // reserved: version 1 writes 0 and refuses anything else
  uint64_t body_bytes = 0;
  uint64_t stored_crc = 0;
  uint64_t computed_crc = 0;
  bool crc_ok() const { return stored_crc == computed_crc; }
};
StateFileHeader read_state_file_header(std::span<const uint8_t> bytes);

// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones), as the trailer holds it:
// crc64("123456789") == 0x995DC9BBDF1939FA.
uint64_t crc64(std::span<const uint8_t> bytes);

// Reads `path` (a regular file, at most kMaxStateFileBytes) and decodes it; errors name `what` and the path.
StateFile read_state_file(const std::string& path, std::string_view what);

// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames it over `path`, so a failure
// leaves no partial file. Errors name `what` ("snapshot_path") and the path.
void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes, std::string_view what);

}  // namespace hearth::snapshot
