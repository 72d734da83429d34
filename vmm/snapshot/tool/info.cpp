#include "vmm/snapshot/tool/info.h"

#include <ctime>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {
namespace {

std::string utc_time(uint64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return "out of range";
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", text, unix_ms % 1000);
}

std::string human_size(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (1ull << 10) && bytes % (1ull << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

void print_crc(std::ostream& out, const StateFileHeader& header) {
  fmt::print(out, "crc: stored=0x{:016x} computed=0x{:016x} {}\n", header.stored_crc, header.computed_crc,
             header.crc_ok() ? "ok" : "MISMATCH");
}

void print_body(std::ostream& out, const StateFile& state) {
  fmt::print(out, "hearth version: {}\n", state.hearth_version);
  fmt::print(out, "snapshot type: {}\n", to_string(state.type));
  fmt::print(out, "created: {} (unix ms {})\n", utc_time(state.created_unix_ms), state.created_unix_ms);
  const auto vcpus = state.machine.find("vcpus");
  if (vcpus != state.machine.end() && vcpus->is_array()) {
    fmt::print(out, "vcpus: {}\n", vcpus->size());
  } else {
    fmt::print(out, "vcpus: unknown (no machine.vcpus list)\n");
  }
  fmt::print(out, "memory regions: {}\n", state.memory.size());
  for (const MemoryRegionLayout& r : state.memory) {
    fmt::print(out, "  guest 0x{:x} size 0x{:x} ({}) file offset 0x{:x}\n", r.guest_addr, r.size, human_size(r.size),
               r.file_offset);
  }
  fmt::print(out, "drives: {}\n", state.drives.size());
  for (const DriveRecord& d : state.drives) {
    fmt::print(out, "  {}: {} ({} bytes)\n", d.drive_id, d.path_on_host, d.size_bytes);
  }
  fmt::print(out, "devices: {}\n", state.devices.size());
  for (const DeviceState& d : state.devices) {
    fmt::print(out, "  {}{} state version {}\n", d.kind, d.id.empty() ? "" : fmt::format(" '{}'", d.id), d.version);
  }
}

}  // namespace

void print_state_info(const std::string& path, std::ostream& out) {
  const std::vector<uint8_t> bytes = read_host_file(path, "state file", kMaxStateFileBytes, "a snapshot state file");
  StateFileHeader header;
  try {
    header = read_state_file_header(bytes);
  } catch (const Error& e) {
    throw Error(fmt::format("'{}': {}", path, e.what()));
  }
  fmt::print(out, "format version: {} (this build reads {} to {})\n", header.format_version, kOldestReadableVersion,
             kFormatVersion);
  fmt::print(out, "body: {} bytes\n", header.body_bytes);
  StateFile state;
  try {
    state = decode_state_file(bytes);
  } catch (const Error& e) {
    print_crc(out, header);
    out.flush();
    throw Error(fmt::format("'{}': {}", path, e.what()));
  }
  print_body(out, state);
  print_crc(out, header);
}

}  // namespace hearth::snapshot
