#include "vmm/snapshot/snapshot.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/memory/uffd.h"
#include "vmm/snapshot/atomic_file.h"

namespace hearth::snapshot {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t unix_ms_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::vector<MemorySource> memory_sources(const GuestMemory& memory, const std::vector<MemoryRegionLayout>& layout) {
  std::vector<MemorySource> sources;
  for (size_t i = 0; i < layout.size(); ++i) {
    sources.push_back({layout[i].file_offset, *memory.view(layout[i].guest_addr, layout[i].size),
                       memory.regions()[i].untouched_reads_as_zero});
  }
  return sources;
}

std::vector<MemoryRegionLayout> layout_of(const GuestMemory& memory) {
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  for (const auto& r : memory.regions()) regions.emplace_back(r.range.start, r.range.size);
  return pack_layout(regions);
}

std::vector<DriveRecord> drive_records(const std::vector<DriveConfig>& drives) {
  std::vector<DriveRecord> records;
  for (const auto& d : drives) {
    const HostFile file = open_host_file(d.path_on_host, fmt::format("drive '{}' path_on_host", d.drive_id),
                                         HostFileRules{.kinds = kRegularFile | kBlockDevice});
    records.push_back({d.drive_id, d.path_on_host, file.size});
  }
  return records;
}

// A drive the snapshot recorded must be where it was, with the size it had: the guest's view of the
// disk (capacity, cached blocks) came with the snapshot.
void check_drives(const std::vector<DriveRecord>& records) {
  for (const auto& d : records) {
    struct stat st {};
    if (::stat(d.path_on_host.c_str(), &st) != 0) {
      throw Error(fmt::format("drive '{}': '{}' recorded in the snapshot: {}", d.drive_id, d.path_on_host,
                              std::strerror(errno)));
    }
    const HostFile file = open_host_file(d.path_on_host, fmt::format("drive '{}' path_on_host", d.drive_id),
                                         HostFileRules{.kinds = kRegularFile | kBlockDevice});
    if (file.size != d.size_bytes) {
      throw Error(fmt::format("drive '{}': '{}' is {} bytes, the snapshot recorded {} bytes", d.drive_id,
                              d.path_on_host, file.size, d.size_bytes));
    }
  }
}

void check_layout(const std::vector<MemoryRegionLayout>& saved, const std::vector<GuestRange>& ranges,
                  uint32_t mem_size_mib) {
  bool same = saved.size() == ranges.size();
  for (size_t i = 0; same && i < saved.size(); ++i) {
    same = saved[i].guest_addr == ranges[i].start && saved[i].size == ranges[i].size;
  }
  if (!same) {
    throw Error(fmt::format("snapshot: the memory layout ({} regions) does not match machine-config.mem_size_mib {}",
                            saved.size(), mem_size_mib));
  }
}

GuestMemory map_memory(const VmConfig& config, const std::vector<GuestRange>& ranges,
                       const std::vector<MemoryRegionLayout>& layout, const LoadParams& params, UffdBackend& uffd) {
  std::vector<uint64_t> offsets;
  for (const auto& l : layout) offsets.push_back(l.file_offset);
  if (params.backend == MemoryBackend::kUffd) {
    // The handler fills it, so the backing is the snapshot's: "2M" gets the 2 MiB pool (or its short-pool error).
    GuestMemory memory = Vmm::anonymous_memory(config);
    memory.mark_filled_elsewhere();
    uffd = connect_uffd_backend(memory, offsets, params.backend_path, "mem_backend.backend_path");
    return memory;
  }
  const HostFile file = open_host_file(params.backend_path, "mem_backend.backend_path", HostFileRules{});
  check_memory_file_size(layout, file.size, "mem_backend.backend_path");
  // The mapping keeps the file; the fd can go.
  return GuestMemory::create_from_file(ranges, file.fd.get(), offsets);
}

}  // namespace

CreateStats create_snapshot(Vmm& vmm, const CreateParams& params) {
  const auto started = Clock::now();
  if (vmm.state() != VmState::kPaused) throw Error("snapshot/create: the microVM must be paused");
  const bool diff = params.type == SnapshotType::kDiff;
  if (diff && !vmm.config().machine.track_dirty_pages) {
    throw Error("snapshot_type: Diff snapshots need dirty page tracking (machine-config.track_dirty_pages)");
  }
  // Open both targets first: a bad path fails before anything is written.
  AtomicFile mem_file(params.mem_file_path, "mem_file_path");
  AtomicFile state_file(params.snapshot_path, "snapshot_path");

  StateFile state;
  state.hearth_version = params.hearth_version;
  state.type = params.type;
  state.created_unix_ms = unix_ms_now();
  state.vm_config = params.vm_config;
  state.memory = layout_of(vmm.memory());
  state.drives = drive_records(params.drives);
  SavedState saved = vmm.save_state();  // names the device that cannot be saved
  state.machine = saved.machine;
  state.devices = std::move(saved.devices);

  CreateStats stats;
  const auto sources = memory_sources(vmm.memory(), state.memory);
  if (diff) {
    stats.memory = write_diff_memory(mem_file.fd(), sources, vmm.take_dirty_bitmaps(), "mem_file_path");
  } else {
    stats.memory = write_full_memory(mem_file.fd(), sources, "mem_file_path");
    if (vmm.config().machine.track_dirty_pages) vmm.take_dirty_bitmaps();  // the next Diff starts from here
  }
  const std::vector<uint8_t> bytes = encode_state_file(state);
  state_file.write_all(bytes);
  mem_file.commit();
  state_file.commit();  // last: a state file on disk always has its memory file
  stats.state_bytes = bytes.size();
  stats.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  SPDLOG_INFO("snapshot {} written: {} ({} state bytes), {} ({} memory bytes in {} writes), {} us",
              to_string(params.type), params.snapshot_path, stats.state_bytes, params.mem_file_path,
              stats.memory.bytes_written, stats.memory.write_calls, stats.elapsed.count());
  return stats;
}

RestoredVm restore_snapshot(const VmConfig& config, const StateFile& state, const LoadParams& params,
                            const VmmOptions& options, EventLoop& loop) {
  // Firecracker: hugetlbfs memory cannot map a memory file, only be filled through userfaultfd.
  if (config.machine.huge_pages == HugePages::k2M && params.backend != MemoryBackend::kUffd) {
    throw Error("mem_backend.backend_type: a huge_pages \"2M\" snapshot cannot be restored from a File "
                "(hugetlbfs pages need the Uffd backend, as in Firecracker)");
  }
  check_drives(state.drives);
  const auto ranges = Vmm::ram_ranges(config);
  check_layout(state.memory, ranges, config.machine.mem_size_mib);
  SavedState saved;
  saved.machine = state.machine.get<MachineState>();
  saved.devices = state.devices;
  RestoredVm restored;
  GuestMemory memory = map_memory(config, ranges, state.memory, params, restored.uffd);
  restored.vmm = Vmm::from_state(config, options, loop, saved, std::move(memory));
  return restored;
}

}  // namespace hearth::snapshot
