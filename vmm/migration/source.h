#pragma once
// The sending side of a live migration, on its own thread: connect, send the configuration, pre-copy
// rounds of dirty pages (with auto-converge), then stop-and-copy or post-copy, and hand over only when
// the destination says it is ready. Until the source has sent kCommit, any failure resumes the VM here.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "vmm/base/event_loop.h"
#include "vmm/config/migration.h"
#include "vmm/core/vmm.h"
#include "vmm/migration/progress.h"
#include "vmm/migration/stream.h"

namespace hearth::migration {

enum class Outcome {
  kCompleted,      // the VM runs on the destination; this process should stop it and exit
  kFailedResumed,  // the migration failed before the hand-over: the VM runs here as before
  kFailedLost,     // it failed after the hand-over (post-copy, or no word after kCommit): it cannot run here
};

class Source {
 public:
  struct Params {
    MigrationSendRequest request;
    nlohmann::json vm_config;  // as GET /vm/config renders it
    std::string hearth_version;
  };
  // Starts the thread; `finished` runs on the VMM thread at the end (not when destroyed first).
  Source(EventLoop& loop, Vmm& vmm, Params params, std::function<void(Outcome)> finished);
  ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  MigrationStatus status() const { return progress_.get(); }
  bool running() const { return running_; }

 private:
  void run();
  Outcome migrate();
  void exchange(Stream& stream);
  Outcome fail(const std::string& what);
  std::string with_peer_reason(Stream& stream, const std::string& what);
  void precopy(Stream& stream);
  void pause_and_save();
  void stop_and_copy(Stream& stream);
  void postcopy(Stream& stream);
  void hand_over(Stream& stream);
  void serve_postcopy(Stream& stream);
  void adjust_throttle(double dirty_rate, double link_rate, uint32_t round);
  void restore_here();

  EventLoop& loop_;
  Vmm& vmm_;
  Params params_;
  nlohmann::json drives_;  // each drive's path and size, for the destination to check
  std::function<void(Outcome)> finished_;
  Progress progress_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> running_{true};
  std::mutex stream_mutex_;
  Stream* stream_ = nullptr;  // while connected, for the destructor to shut down

  // Set as the migration goes; restore_here() undoes what was done.
  bool logging_started_ = false;
  bool paused_here_ = false;
  bool committed_ = false;
  std::vector<std::vector<uint64_t>> pending_;  // pages the destination still lacks
  SavedState saved_;
  std::chrono::steady_clock::time_point paused_at_;
  std::thread thread_;
};

}  // namespace hearth::migration
