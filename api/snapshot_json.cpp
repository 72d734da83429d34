#include "api/snapshot_json.h"

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/config/json_reader.h"

namespace hearth::api {

SnapshotCreateRequest parse_snapshot_create(const nlohmann::json& j) {
  // "version" was Firecracker's target-version field (removed in 1.7); accepted and ignored, as there.
  ObjectReader r(j, "snapshot/create", {"snapshot_type", "snapshot_path", "mem_file_path", "version"});
  SnapshotCreateRequest req;
  const std::string type = r.opt_string("snapshot_type").value_or("Full");
  if (type != "Full" && type != "Diff") {
    r.fail("snapshot_type", fmt::format("must be \"Full\" or \"Diff\", got \"{}\"", type));
  }
  req.diff = type == "Diff";
  req.snapshot_path = r.nonempty_string("snapshot_path");
  req.mem_file_path = r.nonempty_string("mem_file_path");
  check_host_path(req.snapshot_path, r.path("snapshot_path"));
  check_host_path(req.mem_file_path, r.path("mem_file_path"));
  if (req.snapshot_path == req.mem_file_path) r.fail("mem_file_path", "must differ from snapshot_path");
  (void)r.opt_string("version");
  return req;
}

SnapshotLoadRequest parse_snapshot_load(const nlohmann::json& j) {
  ObjectReader r(j, "snapshot/load",
                 {"snapshot_path", "mem_backend", "mem_file_path", "track_dirty_pages", "enable_diff_snapshots",
                  "resume_vm", "network_overrides", "vsock_override", "clock_realtime", "huge_pages"});
  SnapshotLoadRequest req;
  req.snapshot_path = r.nonempty_string("snapshot_path");
  check_host_path(req.snapshot_path, r.path("snapshot_path"));
  const bool has_backend = r.has("mem_backend"), has_file = r.has("mem_file_path");
  if (has_backend == has_file) {
    throw Error("snapshot/load: exactly one of mem_backend and mem_file_path (deprecated) must be given");
  }
  if (has_backend) {
    ObjectReader backend(*r.get("mem_backend"), r.path("mem_backend"), {"backend_type", "backend_path"});
    const std::string type = backend.string("backend_type");
    if (type != "File" && type != "Uffd") {
      backend.fail("backend_type", fmt::format("must be \"File\" or \"Uffd\", got \"{}\"", type));
    }
    req.uffd = type == "Uffd";
    req.backend_path = backend.nonempty_string("backend_path");
    check_host_path(req.backend_path, backend.path("backend_path"));
  } else {
    req.backend_path = r.nonempty_string("mem_file_path");
    check_host_path(req.backend_path, r.path("mem_file_path"));
  }
  const auto track = r.opt_boolean("track_dirty_pages"), enable_diff = r.opt_boolean("enable_diff_snapshots");
  if (track && enable_diff && *track != *enable_diff) {
    r.fail("enable_diff_snapshots", "contradicts track_dirty_pages (give one of them)");
  }
  req.track_dirty_pages = track.value_or(enable_diff.value_or(false));
  req.resume_vm = r.opt_boolean("resume_vm").value_or(false);
  if (const auto* overrides = r.get("network_overrides")) {
    if (!overrides->is_array()) throw_type_error(r.path("network_overrides"), "an array", *overrides);
    if (!overrides->empty()) r.fail("network_overrides", "network interfaces are not supported yet");
  }
  // Firecracker's newer load options: their default forms are what Hearth does; anything else is refused.
  if (r.get("vsock_override")) r.fail("vsock_override", "vsock is not supported yet");
  if (r.opt_boolean("clock_realtime").value_or(false)) {
    r.fail("clock_realtime", "advancing kvmclock by the time since the snapshot is not supported yet");
  }
  if (const auto pages = r.opt_string("huge_pages"); pages && *pages != "Snapshot") {
    r.fail("huge_pages", fmt::format("only \"Snapshot\" (the snapshot's own backing) is supported, got \"{}\"", *pages));
  }
  return req;
}

}  // namespace hearth::api
