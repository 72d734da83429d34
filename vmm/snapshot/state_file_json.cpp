#include "vmm/snapshot/state_file_json.h"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth::snapshot {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
// Memory regions are mapped and loaded page by page; the memory file uses the same unit.
constexpr uint64_t kRegionAlign = 4096;

const nlohmann::json& array_field(const ObjectReader& reader, std::string_view key) {
  const nlohmann::json& value = reader.required(key);
  if (!value.is_array()) throw_type_error(reader.path(key), "an array", value);
  return value;
}

const nlohmann::json& object_field(const ObjectReader& reader, std::string_view key) {
  const nlohmann::json& value = reader.required(key);
  if (!value.is_object()) throw_type_error(reader.path(key), "an object", value);
  return value;
}

SnapshotType parse_type(const ObjectReader& reader) {
  const std::string type = reader.string("snapshot_type");
  if (type == "Full") return SnapshotType::kFull;
  if (type == "Diff") return SnapshotType::kDiff;
  reader.fail("snapshot_type", fmt::format("must be \"Full\" or \"Diff\", got \"{}\"", type));
}

// Ranges [start, start+size) of one kind (guest addresses or file offsets) must not overlap.
void check_disjoint(std::vector<std::pair<uint64_t, size_t>> starts, const std::vector<MemoryRegionLayout>& regions,
                    bool by_file, std::string_view what) {
  std::sort(starts.begin(), starts.end());
  for (size_t i = 1; i < starts.size(); ++i) {
    const MemoryRegionLayout& prev = regions[starts[i - 1].second];
    const uint64_t prev_end = (by_file ? prev.file_offset : prev.guest_addr) + prev.size;
    if (starts[i].first < prev_end) {
      throw Error(fmt::format("state.memory[{}]: its {} 0x{:x} overlaps state.memory[{}], which ends at 0x{:x}",
                              starts[i].second, what, starts[i].first, starts[i - 1].second, prev_end));
    }
  }
}

std::vector<MemoryRegionLayout> parse_memory(const ObjectReader& state) {
  const nlohmann::json& list = array_field(state, "memory");
  std::vector<MemoryRegionLayout> regions;
  regions.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const ObjectReader r(list[i], fmt::format("state.memory[{}]", i), {"guest_addr", "size", "file_offset"});
    MemoryRegionLayout region;
    region.guest_addr = r.unsigned_int("guest_addr", 0, kMaxU64);
    region.size = r.unsigned_int("size", 1, kMaxU64);
    region.file_offset = r.unsigned_int("file_offset", 0, kMaxU64);
    for (auto [key, value] : {std::pair{"guest_addr", region.guest_addr}, std::pair{"size", region.size},
                              std::pair{"file_offset", region.file_offset}}) {
      if (value % kRegionAlign != 0) r.fail(key, fmt::format("0x{:x} is not a multiple of {}", value, kRegionAlign));
    }
    if (region.guest_addr > kMaxU64 - region.size) r.fail("size", "guest_addr + size overflows 64 bits");
    if (region.file_offset > kMaxU64 - region.size) r.fail("size", "file_offset + size overflows 64 bits");
    regions.push_back(region);
  }
  std::vector<std::pair<uint64_t, size_t>> by_guest;
  std::vector<std::pair<uint64_t, size_t>> by_file;
  for (size_t i = 0; i < regions.size(); ++i) {
    by_guest.emplace_back(regions[i].guest_addr, i);
    by_file.emplace_back(regions[i].file_offset, i);
  }
  check_disjoint(std::move(by_guest), regions, false, "guest_addr");
  check_disjoint(std::move(by_file), regions, true, "file_offset");
  return regions;
}

std::vector<DriveRecord> parse_drives(const ObjectReader& state) {
  const nlohmann::json& list = array_field(state, "drives");
  std::vector<DriveRecord> drives;
  std::set<std::string> ids;
  for (size_t i = 0; i < list.size(); ++i) {
    const ObjectReader r(list[i], fmt::format("state.drives[{}]", i), {"drive_id", "path_on_host", "size_bytes"});
    DriveRecord drive;
    drive.drive_id = r.nonempty_string("drive_id");
    drive.path_on_host = r.nonempty_string("path_on_host");
    drive.size_bytes = r.unsigned_int("size_bytes", 0, kMaxU64);
    if (!ids.insert(drive.drive_id).second) r.fail("drive_id", fmt::format("'{}' appears twice", drive.drive_id));
    drives.push_back(std::move(drive));
  }
  return drives;
}

std::vector<DeviceState> parse_devices(const ObjectReader& state) {
  const nlohmann::json& list = array_field(state, "devices");
  std::vector<DeviceState> devices;
  devices.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const ObjectReader r(list[i], fmt::format("state.devices[{}]", i), {"kind", "id", "version", "data"});
    r.nonempty_string("kind");
    r.string("id");
    r.unsigned_int("version", 0, std::numeric_limits<uint32_t>::max());
    // A device's payload is its own to check (Device::restore); here it only has to be there.
    if (!list[i].contains("data")) throw Error(fmt::format("{}: missing required field 'data'", r.context()));
    devices.push_back(list[i].get<DeviceState>());  // every field it reads was checked above
  }
  return devices;
}

}  // namespace

nlohmann::json state_to_json(const StateFile& state) {
  nlohmann::json memory = nlohmann::json::array();
  for (const MemoryRegionLayout& r : state.memory) {
    memory.push_back({{"guest_addr", r.guest_addr}, {"size", r.size}, {"file_offset", r.file_offset}});
  }
  nlohmann::json drives = nlohmann::json::array();
  for (const DriveRecord& d : state.drives) {
    drives.push_back({{"drive_id", d.drive_id}, {"path_on_host", d.path_on_host}, {"size_bytes", d.size_bytes}});
  }
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceState& d : state.devices) devices.push_back(d);
  return nlohmann::json{{"hearth_version", state.hearth_version},
                        {"snapshot_type", to_string(state.type)},
                        {"created_unix_ms", state.created_unix_ms},
                        {"vm_config", state.vm_config},
                        {"memory", std::move(memory)},
                        {"drives", std::move(drives)},
                        {"machine", state.machine},
                        {"devices", std::move(devices)}};
}

StateFile state_from_json(const nlohmann::json& body, uint32_t format_version) {
  const ObjectReader state(body, "state",
                           {"hearth_version", "snapshot_type", "created_unix_ms", "vm_config", "memory", "drives",
                            "machine", "devices"});
  StateFile out;
  out.format_version = format_version;
  out.hearth_version = state.nonempty_string("hearth_version");
  out.type = parse_type(state);
  out.created_unix_ms = state.unsigned_int("created_unix_ms", 0, kMaxU64);
  out.vm_config = object_field(state, "vm_config");
  out.memory = parse_memory(state);
  out.drives = parse_drives(state);
  out.machine = object_field(state, "machine");
  out.devices = parse_devices(state);
  return out;
}

}  // namespace hearth::snapshot
