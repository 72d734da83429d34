#pragma once
// The receiving side of a live migration: listens (from construction, so PUT /migration/receive
// answers once it does), builds the VM from the stream's configuration, fills its memory, restores its
// state, and resumes it only after the source committed. In post-copy the VM runs while missing pages
// are fetched on demand (userfaultfd). Any failure before the VM runs discards it; after (post-copy) the
// VM cannot continue: either way the hooks' failed() ends the process with an error.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "vmm/base/event_loop.h"
#include "vmm/base/eventfd.h"
#include "vmm/config/migration.h"
#include "vmm/core/vmm.h"
#include "vmm/migration/progress.h"
#include "vmm/migration/stream.h"

namespace hearth::migration {

class Postcopy;

class Destination {
 public:
  struct Hooks {
    std::function<VmConfig(const nlohmann::json&)> parse_config;  // the API layer owns the schema
    // VMM thread. arrived: the VM runs (own it from now on). failed: a one-line reason; end the process.
    std::function<void(std::unique_ptr<Vmm>, VmConfig)> arrived;
    std::function<void(const std::string&)> failed;
  };
  // Listens on request.url now (throws Error naming it); receives on a thread.
  Destination(EventLoop& loop, VmmOptions options, MigrationReceiveRequest request, Hooks hooks);
  ~Destination();
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;

  MigrationStatus status() const { return progress_.get(); }

 private:
  void run();
  void receive(Stream& stream);
  VmConfig read_config(const Message& message);
  void restore_and_report_ready(Stream& stream, const SavedState& state);
  void run_here(Stream& stream);
  [[noreturn]] void die(const std::string& what);
  void receive_postcopy(Stream& stream, const SavedState& state, std::vector<std::vector<uint64_t>> missing);

  EventLoop& loop_;
  VmmOptions options_;
  MigrationReceiveRequest request_;
  Hooks hooks_;
  Progress progress_;
  UniqueFd listener_;
  EventFd cancel_;
  std::atomic<bool> cancelled_{false};
  std::mutex stream_mutex_;
  Stream* stream_ = nullptr;
  VmConfig config_;
  std::chrono::steady_clock::time_point state_arrived_{};
  std::unique_ptr<Vmm> vmm_;  // until it runs; then the hooks own it
  Vmm* running_ = nullptr;
  const GuestMemory* guest_ = nullptr;  // the incoming VM's memory, while this owns it or after
  std::unique_ptr<Postcopy> postcopy_;
  std::thread arriving_;  // post-copy: restores and runs the VM while thread_ receives pages
  std::thread thread_;
};

}  // namespace hearth::migration
