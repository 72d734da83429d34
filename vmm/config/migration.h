#pragma once
// Live migration requests and progress, as the API speaks them (api/migration_json.h) and the
// migration code (vmm/migration/) acts on them.
#include <cstdint>
#include <string>
#include <vector>

namespace hearth {

// PUT /migration/send.
struct MigrationSendRequest {
  std::string url;  // "unix:/path" or "tcp:HOST:PORT"
  uint32_t max_downtime_ms = 50;
  uint32_t max_rounds = 30;
  uint32_t bandwidth_mib_s = 0;  // 0: as fast as the link goes
  bool auto_converge = true;
  bool post_copy = false;
};

struct DriveOverride {
  std::string drive_id;
  std::string path_on_host;
};

// PUT /migration/receive (and --migrate-from).
struct MigrationReceiveRequest {
  std::string url;
  std::vector<DriveOverride> drive_overrides;
};

enum class MigrationPhase { kIdle, kPrecopy, kStopAndCopy, kPostcopy, kCompleted, kFailed };

// GET /migration: either side's progress.
struct MigrationStatus {
  MigrationPhase phase = MigrationPhase::kIdle;
  uint32_t round = 0;
  uint64_t dirty_pages_last_round = 0;
  uint64_t bytes_sent = 0;  // source: sent; destination: received
  double rate_mib_s = 0;
  double expected_downtime_ms = 0;
  double downtime_ms = 0;
  double total_ms = 0;
  uint32_t throttle_percent = 0;
  uint64_t pages_requested = 0;  // post-copy: pages the destination faulted on and asked for
  std::string error;
};

constexpr const char* to_string(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kIdle: return "idle";
    case MigrationPhase::kPrecopy: return "precopy";
    case MigrationPhase::kStopAndCopy: return "stop-and-copy";
    case MigrationPhase::kPostcopy: return "postcopy";
    case MigrationPhase::kCompleted: return "completed";
    case MigrationPhase::kFailed: return "failed";
  }
  return "unknown";
}

}  // namespace hearth
