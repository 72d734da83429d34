#pragma once
// Snapshots of a Vmm: write a paused VM's state and memory files, and build a VM from them.
// The state file (state_file.h) and memory file (memory_file.h) are the formats; this is the glue
// between them and the Vmm. VmConfig <-> JSON is the caller's (the API layer owns that schema).
#include <chrono>
#include <memory>
#include <string>

#include "vmm/base/fd.h"
#include "vmm/core/vmm.h"
#include "vmm/memory/uffd.h"
#include "vmm/snapshot/memory_file.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {

struct CreateParams {
  SnapshotType type = SnapshotType::kFull;
  std::string snapshot_path;
  std::string mem_file_path;
  nlohmann::json vm_config;  // the VM's configuration, as GET /vm/config renders it
  std::vector<DriveConfig> drives;  // their files' sizes are recorded, to be checked at load
  std::string hearth_version;
};

struct CreateStats {
  uint64_t state_bytes = 0;
  MemoryWriteStats memory;
  std::chrono::microseconds elapsed{0};
};

// Writes the memory file, then the state file (each complete or absent). The VM must be paused; a Diff
// needs machine-config.track_dirty_pages. Afterwards the dirty log starts afresh, so the next Diff holds
// what changed since this snapshot. Throws Error naming the field or the device that failed.
CreateStats create_snapshot(Vmm& vmm, const CreateParams& params);

enum class MemoryBackend { kFile, kUffd };

// The state file is already read (StateFile); dirty tracking comes with `config`.
struct LoadParams {
  MemoryBackend backend = MemoryBackend::kFile;
  std::string backend_path;  // the memory file, or the page-fault handler's socket
};

// A VM built from a snapshot (Paused). `uffd` backs its memory when the backend is Uffd: it must live
// as long as the VM does (declared first, so it outlives `vmm`).
struct RestoredVm {
  UffdBackend uffd;
  std::unique_ptr<Vmm> vmm;
};

// Checks the drives the snapshot recorded (present, same size) and the memory layout, maps the memory
// (File: private mapping of the memory file; Uffd: handed to the handler) and builds the VM.
// `config` is state.vm_config parsed by the caller. Throws Error naming what does not match.
RestoredVm restore_snapshot(const VmConfig& config, const StateFile& state, const LoadParams& params,
                            const VmmOptions& options, EventLoop& loop);

}  // namespace hearth::snapshot
