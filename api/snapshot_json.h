#pragma once
// PUT /snapshot/create and /snapshot/load bodies, Firecracker's schema (older spellings included).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hearth::api {

struct SnapshotCreateRequest {
  bool diff = false;  // snapshot_type "Diff"; "Full" is the default
  std::string snapshot_path;
  std::string mem_file_path;
};

struct SnapshotLoadRequest {
  std::string snapshot_path;
  bool uffd = false;  // mem_backend.backend_type "Uffd"; "File" otherwise
  std::string backend_path;  // mem_backend.backend_path, or the older mem_file_path
  bool track_dirty_pages = false;  // or the older enable_diff_snapshots
  bool resume_vm = false;
};

// Throw Error naming the field ("snapshot/load.mem_backend.backend_type: ...").
SnapshotCreateRequest parse_snapshot_create(const nlohmann::json& j);
SnapshotLoadRequest parse_snapshot_load(const nlohmann::json& j);

}  // namespace hearth::api
