#include "vmm/migration/destination.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/migration/endpoint.h"
#include "vmm/migration/loop_call.h"
#include "vmm/migration/pages.h"
#include "vmm/migration/postcopy.h"
#include "vmm/migration/saved_state_json.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::migration {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kPeerTimeout{60000};

void check_memory(const nlohmann::json& memory, const std::vector<GuestRange>& ranges) {
  bool same = memory.is_array() && memory.size() == ranges.size();
  for (size_t i = 0; same && i < ranges.size(); ++i) {
    same = memory[i].value("guest_addr", uint64_t{1}) == ranges[i].start && memory[i].value("size", uint64_t{0}) == ranges[i].size;
  }
  if (!same) throw Error("the source's memory layout does not match its machine-config here");
}

// Shared storage: each drive must be where the source said (or its override) with the same size.
void check_drives(VmConfig& config, const nlohmann::json& drives, const std::vector<DriveOverride>& overrides) {
  for (const auto& o : overrides) {
    auto it = std::find_if(config.drives.begin(), config.drives.end(), [&](const auto& d) { return d.drive_id == o.drive_id; });
    if (it == config.drives.end()) {
      throw Error(fmt::format("drive_overrides: the migrating microVM has no drive '{}'", o.drive_id));
    }
    it->path_on_host = o.path_on_host;
  }
  for (const auto& d : config.drives) {
    uint64_t size = 0;
    for (const auto& record : drives) {
      if (record.value("drive_id", "") == d.drive_id) size = record.value("size_bytes", uint64_t{0});
    }
    struct stat st {};
    if (::stat(d.path_on_host.c_str(), &st) != 0) {
      throw Error(fmt::format("drive '{}': '{}': {} (give drive_overrides for another path)", d.drive_id,
                              d.path_on_host, std::strerror(errno)));
    }
    if (static_cast<uint64_t>(st.st_size) != size) {
      throw Error(fmt::format("drive '{}': '{}' is {} bytes here, {} on the source", d.drive_id, d.path_on_host,
                              st.st_size, size));
    }
  }
}

}  // namespace

Destination::Destination(EventLoop& loop, VmmOptions options, MigrationReceiveRequest request, Hooks hooks)
    : loop_(loop), options_(std::move(options)), request_(std::move(request)), hooks_(std::move(hooks)) {
  listener_ = listen_on(parse_endpoint(request_.url));
  SPDLOG_INFO("migration: listening on {}", request_.url);
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "hearth_mig_recv");
    seccomp::install_thread_filter(seccomp::ThreadKind::kMigration);
    run();
  });
}

Destination::~Destination() {
  cancelled_ = true;
  cancel_.signal();
  {
    std::lock_guard lock(stream_mutex_);
    if (stream_) stream_->shut_down();
  }
  if (thread_.joinable()) thread_.join();
  if (arriving_.joinable()) arriving_.join();
  postcopy_.reset();
}

void Destination::run() {
  try {
    UniqueFd fd = accept_one(listener_.get(), cancel_.fd());
    if (!fd) return;
    listener_.reset();
    if (request_.url.rfind("unix:", 0) == 0) {
      // Filesystem calls are the VMM thread's (this thread's seccomp filter has none).
      loop_.post([path = request_.url.substr(5)] { ::unlink(path.c_str()); });
    }
    Stream stream(std::move(fd));
    {
      std::lock_guard lock(stream_mutex_);
      stream_ = &stream;
    }
    progress_.start();
    progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kPrecopy; });
    try {
      receive(stream);
    } catch (const std::exception& e) {
      if (!cancelled_) {
        try {
          stream.send(MsgType::kError, e.what());
        } catch (const std::exception&) {
        }
      }
      std::lock_guard lock(stream_mutex_);
      stream_ = nullptr;
      throw;
    }
    std::lock_guard lock(stream_mutex_);
    stream_ = nullptr;
  } catch (const std::exception& e) {
    if (cancelled_) return;
    std::string why = e.what();
    if (postcopy_) die(why);
    progress_.update([&](MigrationStatus& s) {
      s.phase = MigrationPhase::kFailed;
      s.error = why;
    });
    SPDLOG_ERROR("migration from {} failed: {}", request_.url, why);
    loop_.post([this, why] { hooks_.failed(why); });
  }
}

VmConfig Destination::read_config(const Message& message) {
  if (message.type != MsgType::kConfig) {
    throw Error(fmt::format("the source sent {} before its configuration", to_string(message.type)));
  }
  const nlohmann::json j = nlohmann::json::parse(message.text(), nullptr, false);
  if (!j.is_object() || !j.contains("vm_config")) throw Error("migration stream: malformed configuration message");
  VmConfig config;
  try {
    config = hooks_.parse_config(j["vm_config"]);
  } catch (const Error& e) {
    throw Error(fmt::format("the source's configuration is refused here: {}", e.what()));
  }
  check_memory(j.value("memory", nlohmann::json()), Vmm::ram_ranges(config));
  // Filesystem calls are the VMM thread's (this thread's seccomp filter has none).
  call_on_loop(loop_, cancelled_, [&] {
    check_drives(config, j.value("drives", nlohmann::json::array()), request_.drive_overrides);
  });
  SPDLOG_INFO("migration: receiving a microVM from Hearth {} ({} vCPUs, {} MiB)", j.value("hearth_version", "?"),
              config.machine.vcpu_count, config.machine.mem_size_mib);
  return config;
}

void Destination::receive(Stream& stream) {
  const uint32_t version = stream.read_preamble(kPeerTimeout);
  stream.send_preamble();
  if (version != kProtocolVersion) {
    throw Error(fmt::format("the source speaks migration protocol version {}, this destination version {}", version,
                            kProtocolVersion));
  }
  config_ = read_config(stream.receive(kPeerTimeout));
  GuestMemory memory = Vmm::anonymous_memory(config_);
  vmm_ = call_on_loop(loop_, cancelled_, [&] { return Vmm::for_incoming(config_, options_, loop_, std::move(memory)); });
  stream.send(MsgType::kConfigAck);
  const GuestMemory& guest = vmm_->memory();
  guest_ = &guest;
  MemoryPageSink sink(guest);
  Bitmaps missing;
  bool postcopy = false;
  for (;;) {
    Message m = stream.receive(kPeerTimeout);
    switch (m.type) {
      case MsgType::kRound: {
        uint32_t round = 0;
        if (m.payload.size() == sizeof(round)) std::memcpy(&round, m.payload.data(), sizeof(round));
        progress_.update([&](MigrationStatus& s) {
          s.round = round;
          s.bytes_sent = stream.bytes_received();
        });
        break;
      }
      case MsgType::kPages:
        apply_page_batch(m, guest, sink);
        break;
      case MsgType::kPostcopy: {
        missing = empty_bitmaps(guest);
        size_t at = 0;
        for (auto& region : missing) {
          for (auto& word : region) {
            if (at + 8 > m.payload.size()) throw Error("migration stream: the post-copy bitmap is too short");
            std::memcpy(&word, m.payload.data() + at, 8);
            at += 8;
          }
        }
        postcopy = true;
        break;
      }
      case MsgType::kState: {
        state_arrived_ = std::chrono::steady_clock::now();
        const SavedState state = parse_saved_state(nlohmann::json::parse(m.text(), nullptr, false));
        if (postcopy) {
          receive_postcopy(stream, state, std::move(missing));
        } else {
          progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kStopAndCopy; });
          restore_and_report_ready(stream, state);
          Message commit = stream.receive(kPeerTimeout);
          if (commit.type == MsgType::kError) throw Error(fmt::format("the source gave up: {}", commit.text()));
          if (commit.type != MsgType::kCommit) {
            throw Error(fmt::format("the source sent {} where commit was due", to_string(commit.type)));
          }
          run_here(stream);
        }
        progress_.update([&](MigrationStatus& s) {
          s.phase = MigrationPhase::kCompleted;
          s.bytes_sent = stream.bytes_received();
          s.total_ms = s.total_ms > 0 ? s.total_ms : progress_.elapsed_ms_unlocked();
          if (postcopy_) s.pages_requested = postcopy_->requested();
        });
        SPDLOG_INFO("migration from {} completed: {} bytes received", request_.url, stream.bytes_received());
        return;
      }
      case MsgType::kError:
        throw Error(fmt::format("the source gave up: {}", m.text()));
      default:
        throw Error(fmt::format("the source sent an unexpected {} message", to_string(m.type)));
    }
  }
}

// A vCPU, or the VMM thread itself, may wait in a page fault that nothing will ever answer: no orderly
// shutdown can run, so the process ends here with the reason.
void Destination::die(const std::string& what) {
  const std::string why = what + " (post-copy: the microVM cannot continue without the source's pages)";
  SPDLOG_CRITICAL("migration from {} failed: {}", request_.url, why);
  std::fprintf(stderr, "hearth: error: migration: %s\n", why.c_str());
  std::_Exit(1);
}

void Destination::restore_and_report_ready(Stream& stream, const SavedState& state) {
  call_on_loop(loop_, cancelled_, [&] { vmm_->restore_incoming(state); });
  stream.send(MsgType::kReady);
}

void Destination::run_here(Stream& stream) {
  call_on_loop(loop_, cancelled_, [&] {
    vmm_->resume();
    running_ = vmm_.get();
    hooks_.arrived(std::move(vmm_), config_);
  });
  // What this side sees of the downtime: from the state's arrival (the source paused just before
  // sending its last pages) to running.
  const double downtime =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - state_arrived_).count();
  progress_.update([&](MigrationStatus& s) { s.downtime_ms = downtime; });
  stream.send(MsgType::kResumed);
}

// Memory is registered with userfaultfd before the state is restored: restoring devices may already
// touch pages the source holds. So pages are received here while another thread restores, reports ready,
// waits for the commit and runs the VM.
void Destination::receive_postcopy(Stream& stream, const SavedState& state, Bitmaps missing) {
  const GuestMemory& guest = *guest_;
  postcopy_ = std::make_unique<Postcopy>(guest, stream, std::move(missing));
  progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kPostcopy; });
  std::mutex mutex;
  std::condition_variable cv;
  bool committed = false, arrived = false;
  std::string error;
  arriving_ = std::thread([&, state] {
    ::pthread_setname_np(::pthread_self(), "hearth_mig_run");
    seccomp::install_thread_filter(seccomp::ThreadKind::kMigration);
    try {
      restore_and_report_ready(stream, state);
      {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, kPeerTimeout, [&] { return committed || !error.empty() || cancelled_; })) {
          throw Error("the source did not commit in time");
        }
        if (!committed) return;
      }
      run_here(stream);
      std::lock_guard lock(mutex);
      arrived = true;
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      if (error.empty()) error = e.what();
      stream.shut_down();
    }
  });
  try {
    for (;;) {
      Message p = stream.receive();
      if (p.type == MsgType::kPostcopyDone) break;
      if (p.type == MsgType::kCommit) {
        std::lock_guard lock(mutex);
        committed = true;
        cv.notify_all();
        continue;
      }
      if (p.type == MsgType::kError) throw Error(fmt::format("the source failed: {}", p.text()));
      if (p.type != MsgType::kPages) throw Error(fmt::format("the source sent {} during post-copy", to_string(p.type)));
      apply_page_batch(p, guest, *postcopy_);
      progress_.update([&](MigrationStatus& s) {
        s.bytes_sent = stream.bytes_received();
        s.pages_requested = postcopy_->requested();
      });
    }
  } catch (const std::exception& e) {
    std::string why;
    {
      std::lock_guard lock(mutex);
      why = error.empty() ? std::string(e.what()) : error;
    }
    die(why);  // the other thread may be stuck in the VMM: nothing here can be unwound safely
  }
  arriving_.join();
  if (!error.empty()) throw Error(error);
  if (!arrived) throw Error("post-copy: the source finished before the microVM was handed over");
  if (const uint64_t left = postcopy_->missing()) {
    throw Error(fmt::format("post-copy: the source finished with {} pages never sent", left));
  }
  postcopy_->finish();
  const double total_ms = progress_.elapsed_ms();
  progress_.update([&](MigrationStatus& s) { s.total_ms = total_ms; });
  stream.send(MsgType::kPostcopyDone);
}

}  // namespace hearth::migration
