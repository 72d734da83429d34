#include "vmm/migration/source.h"

#include <pthread.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstring>
#include <deque>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/migration/endpoint.h"
#include "vmm/migration/loop_call.h"
#include "vmm/migration/pages.h"
#include "vmm/migration/saved_state_json.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::migration {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kConnectTimeout{5000};  // a destination just told to listen gets this long
constexpr milliseconds kPeerTimeout{60000};  // the destination builds a VM or restores one meanwhile
constexpr double kStateCostMs = 2;          // sending and restoring vCPU and device state, beyond pages
constexpr unsigned kThrottleFirst = 20, kThrottleStep = 10, kThrottleMax = 99;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

nlohmann::json memory_json(const GuestMemory& memory) {
  nlohmann::json regions = nlohmann::json::array();
  for (const auto& r : memory.regions()) regions.push_back({{"guest_addr", r.range.start}, {"size", r.range.size}});
  return regions;
}

// Drives are shared storage: the destination checks it sees the same size at the same (or overridden) path.
nlohmann::json drives_json(const nlohmann::json& vm_config) {
  nlohmann::json drives = nlohmann::json::array();
  if (!vm_config.contains("drives")) return drives;
  for (const auto& d : vm_config["drives"]) {
    const std::string path = d.value("path_on_host", "");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      throw Error(fmt::format("drive '{}': '{}': {}", d.value("drive_id", ""), path, std::strerror(errno)));
    }
    drives.push_back({{"drive_id", d.value("drive_id", "")}, {"path_on_host", path},
                      {"size_bytes", static_cast<uint64_t>(st.st_size)}});
  }
  return drives;
}

Message expect(Stream& stream, MsgType want, milliseconds timeout) {
  Message m = stream.receive(timeout);
  if (m.type == MsgType::kError) throw Error(fmt::format("the destination failed: {}", m.text()));
  if (m.type != want) {
    throw Error(fmt::format("the destination sent {} where {} was due", to_string(m.type), to_string(want)));
  }
  return m;
}

}  // namespace

Source::Source(EventLoop& loop, Vmm& vmm, Params params, std::function<void(Outcome)> finished)
    : loop_(loop), vmm_(vmm), params_(std::move(params)), finished_(std::move(finished)) {
  drives_ = drives_json(params_.vm_config);  // here, on the VMM thread: the sender's filter has no stat
  progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kPrecopy; });
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "hearth_mig_send");
    seccomp::install_thread_filter(seccomp::ThreadKind::kMigration);
    run();
  });
}

Source::~Source() {
  cancelled_ = true;
  {
    std::lock_guard lock(stream_mutex_);
    if (stream_) stream_->shut_down();
  }
  if (thread_.joinable()) thread_.join();
}

void Source::run() {
  const Outcome outcome = migrate();
  running_ = false;
  if (!cancelled_) loop_.post([this, outcome] { finished_(outcome); });
}

Outcome Source::migrate() {
  progress_.start();
  try {
    Stream stream(connect_to(parse_endpoint(params_.request.url), kConnectTimeout));
    {
      std::lock_guard lock(stream_mutex_);
      stream_ = &stream;
    }
    struct Detach {
      Source& s;
      ~Detach() {
        std::lock_guard lock(s.stream_mutex_);
        s.stream_ = nullptr;
      }
    } detach{*this};
    try {
      exchange(stream);
    } catch (const Error& e) {
      throw Error(with_peer_reason(stream, e.what()));
    }
    progress_.update([&](MigrationStatus& s) {
      s.phase = MigrationPhase::kCompleted;
      s.bytes_sent = stream.bytes_sent();
      s.total_ms = progress_.elapsed_ms_unlocked();
      s.throttle_percent = 0;
    });
    SPDLOG_INFO("migration to {} completed: {} bytes in {:.1f} ms, downtime {:.1f} ms", params_.request.url,
                stream.bytes_sent(), progress_.get().total_ms, progress_.get().downtime_ms);
    return Outcome::kCompleted;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

// A send that fails because the destination gave up hides its reason: it sent one before it hung up.
std::string Source::with_peer_reason(Stream& stream, const std::string& what) {
  try {
    for (int i = 0; i < 64; ++i) {
      Message m = stream.receive(milliseconds(200));
      if (m.type == MsgType::kError) return fmt::format("the destination failed: {}", m.text());
    }
  } catch (const std::exception&) {
  }
  return what;
}

void Source::exchange(Stream& stream) {
    stream.send_preamble();
    const uint32_t version = stream.read_preamble(kPeerTimeout);
    if (version != kProtocolVersion) {
      throw Error(fmt::format("the destination speaks migration protocol version {}, this source version {}", version,
                              kProtocolVersion));
    }
    const nlohmann::json config = {{"hearth_version", params_.hearth_version},
                                   {"vm_config", params_.vm_config},
                                   {"memory", memory_json(vmm_.memory())},
                                   {"drives", drives_}};
    stream.send(MsgType::kConfig, config.dump());
    expect(stream, MsgType::kConfigAck, kPeerTimeout);
    precopy(stream);
    if (progress_.get().phase == MigrationPhase::kPostcopy) {
      postcopy(stream);
    } else {
      stop_and_copy(stream);
    }
}

Outcome Source::fail(const std::string& what) {
  const bool lost = committed_;
  const std::string why =
      lost ? fmt::format("{} (after the hand-over: the microVM cannot continue on either side)", what) : what;
  progress_.update([&](MigrationStatus& s) {
    s.phase = MigrationPhase::kFailed;
    s.error = why;
    s.total_ms = progress_.elapsed_ms_unlocked();
  });
  SPDLOG_ERROR("migration to {} failed: {}", params_.request.url, why);
  if (lost) return Outcome::kFailedLost;
  try {
    restore_here();
  } catch (const std::exception& again) {
    SPDLOG_ERROR("migration: resuming the microVM here failed too: {}", again.what());
  }
  return Outcome::kFailedResumed;
}

void Source::precopy(Stream& stream) {
  const auto& request = params_.request;
  call_on_loop(loop_, cancelled_, [&] {
    vmm_.start_dirty_logging();
    vmm_.take_dirty_bitmaps();  // round 0 sends everything; the log starts afresh
  });
  logging_started_ = true;
  PageSender sender(stream, vmm_.memory(), request.bandwidth_mib_s);
  pending_ = full_bitmaps(vmm_.memory());
  double link_rate = 0;  // bytes per ms
  for (uint32_t round = 0;; ++round) {
    const uint32_t wire_round = round;
    const iovec part{const_cast<uint32_t*>(&wire_round), sizeof(wire_round)};
    stream.send(MsgType::kRound, std::span(&part, 1));
    const auto started = Clock::now();
    const uint64_t bytes_before = stream.bytes_sent();
    sender.send_bitmaps(pending_, round == 0);
    const double round_ms = std::max(ms_since(started), 0.01);
    const double sent = static_cast<double>(stream.bytes_sent() - bytes_before);
    if (sent > 256 * 1024 || link_rate == 0) link_rate = sent / round_ms;  // small rounds say little about the link
    pending_ = vmm_.take_dirty_bitmaps();
    const uint64_t dirty = count_pages(pending_);
    const double dirty_bytes = static_cast<double>(dirty * kPageSize);
    const double expected_ms = dirty_bytes / std::max(link_rate, 1.0) + kStateCostMs;
    progress_.update([&](MigrationStatus& s) {
      s.round = round;
      s.dirty_pages_last_round = dirty;
      s.bytes_sent = stream.bytes_sent();
      s.rate_mib_s = link_rate * 1000 / (1 << 20);
      s.expected_downtime_ms = expected_ms;
    });
    SPDLOG_INFO("migration round {}: {} pages ({} zero) in {:.1f} ms, {} dirty, link {:.0f} MiB/s, expected downtime "
                "{:.1f} ms",
                round, sender.data_pages(), sender.zero_pages(), round_ms, dirty, link_rate * 1000 / (1 << 20),
                expected_ms);
    if (cancelled_) throw Error("migration cancelled");
    if (expected_ms <= request.max_downtime_ms) return;
    if (request.post_copy) {
      progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kPostcopy; });
      return;
    }
    if (round + 1 >= request.max_rounds) {
      SPDLOG_WARN("migration: {} rounds did not converge; stopping with an expected downtime of {:.1f} ms",
                  request.max_rounds, expected_ms);
      return;
    }
    if (request.auto_converge) adjust_throttle(dirty_bytes / round_ms, sent / round_ms, round);
  }
}

// QEMU's rule, per round: a guest that dirtied more than half of what the round could send is throttled
// harder; the throttle stays while it converges.
void Source::adjust_throttle(double dirty_rate, double link_rate, uint32_t round) {
  if (round == 0 || dirty_rate <= link_rate / 2) return;
  const unsigned now = vmm_.vcpu_throttle();
  const unsigned next = std::min(kThrottleMax, now == 0 ? kThrottleFirst : now + kThrottleStep);
  if (next == now) return;
  call_on_loop(loop_, cancelled_, [&] { vmm_.set_vcpu_throttle(next); });
  progress_.update([&](MigrationStatus& s) { s.throttle_percent = next; });
  SPDLOG_INFO("migration: auto-converge throttles vCPUs to {}%", next);
}

void Source::stop_and_copy(Stream& stream) {
  progress_.update([](MigrationStatus& s) { s.phase = MigrationPhase::kStopAndCopy; });
  pause_and_save();
  PageSender sender(stream, vmm_.memory(), 0);  // the guest is stopped: no pacing now
  sender.send_bitmaps(pending_, false);
  stream.send(MsgType::kState, saved_state_json(saved_).dump());
  hand_over(stream);
  expect(stream, MsgType::kResumed, kPeerTimeout);
  const double downtime = ms_since(paused_at_);
  progress_.update([&](MigrationStatus& s) {
    s.downtime_ms = downtime;
    s.dirty_pages_last_round = count_pages(pending_);
  });
}

// Stops the guest (the VMM thread does it), saves its state and adds the pages it dirtied last.
void Source::pause_and_save() {
  paused_at_ = Clock::now();
  Bitmaps last;
  call_on_loop(loop_, cancelled_, [&] {
    if (vmm_.state() == VmState::kRunning) {
      vmm_.pause();
      paused_here_ = true;
    }
    saved_ = vmm_.save_state();  // completes in-flight device I/O first
    last = vmm_.take_dirty_bitmaps();
  });
  merge_into(pending_, last);
}

// The destination has restored everything and waits: from kCommit on, the VM is the destination's.
void Source::hand_over(Stream& stream) {
  expect(stream, MsgType::kReady, kPeerTimeout);
  stream.send(MsgType::kCommit);
  committed_ = true;
}

void Source::restore_here() {
  call_on_loop(loop_, cancelled_, [&] {
    vmm_.set_vcpu_throttle(0);
    if (paused_here_) vmm_.resume();
    if (logging_started_) vmm_.stop_dirty_logging();
  });
  paused_here_ = false;
}

void Source::postcopy(Stream& stream) {
  pause_and_save();
  std::vector<uint64_t> words;
  for (const auto& region : pending_) words.insert(words.end(), region.begin(), region.end());
  const iovec part{words.data(), words.size() * sizeof(uint64_t)};
  stream.send(MsgType::kPostcopy, std::span(&part, 1));
  stream.send(MsgType::kState, saved_state_json(saved_).dump());
  SPDLOG_INFO("migration: post-copy with {} pages left on the source", count_pages(pending_));
  serve_postcopy(stream);
}

// Serves the pages the destination asks for from now on: restoring its devices may already touch some.
// Once it is ready the VM is handed over; then the destination runs, and the pages it has not asked for
// are pushed in order meanwhile.
void Source::serve_postcopy(Stream& stream) {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<uint64_t> requested;
  bool ready = false, done = false, resumed = false;
  std::string error;
  std::thread reader([&] {
    ::pthread_setname_np(::pthread_self(), "hearth_mig_req");
    seccomp::install_thread_filter(seccomp::ThreadKind::kMigration);
    try {
      for (;;) {
        Message m = stream.receive();
        std::lock_guard lock(mutex);
        if (m.type == MsgType::kReady) {
          ready = true;
        } else if (m.type == MsgType::kResumed) {
          resumed = true;
          progress_.update([&](MigrationStatus& s) { s.downtime_ms = ms_since(paused_at_); });
        } else if (m.type == MsgType::kPageRequest) {
          for (size_t at = 0; at + 8 <= m.payload.size(); at += 8) {
            uint64_t addr;
            std::memcpy(&addr, m.payload.data() + at, 8);
            requested.push_back(addr);
          }
          progress_.update([&](MigrationStatus& s) { s.pages_requested += m.payload.size() / 8; });
        } else if (m.type == MsgType::kPostcopyDone) {
          done = true;
        } else if (m.type == MsgType::kError) {
          error = fmt::format("the destination failed: {}", m.text());
        } else {
          error = fmt::format("the destination sent {} during post-copy", to_string(m.type));
        }
        cv.notify_all();
        if (done || !error.empty()) return;
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      error = e.what();
      cv.notify_all();
    }
  });
  struct Join {
    std::thread& t;
    Stream& s;
    bool ok = false;
    ~Join() {
      if (!ok) s.shut_down();
      t.join();
    }
  } join{reader, stream};

  const GuestMemory& memory = vmm_.memory();
  PageSender sender(stream, memory, 0);
  auto take = [&](size_t r, uint64_t page) {
    uint64_t& word = pending_[r][page / 64];
    const uint64_t bit = uint64_t{1} << (page % 64);
    if (!(word & bit)) return false;
    word &= ~bit;
    return true;
  };
  const auto ready_by = Clock::now() + kPeerTimeout;
  size_t region = 0;
  uint64_t word = 0;
  for (;;) {
    std::vector<uint64_t> urgent;
    bool hand_over_now = false;
    {
      std::unique_lock lock(mutex);
      if (!committed_ && !ready) {
        // Before the hand-over only what the destination asks for moves.
        cv.wait_for(lock, milliseconds(10), [&] { return ready || !requested.empty() || !error.empty(); });
        if (!ready && requested.empty() && error.empty() && Clock::now() > ready_by) {
          throw Error("the destination did not get ready for post-copy in time");
        }
      }
      if (!error.empty()) throw Error(error);
      urgent.assign(requested.begin(), requested.end());
      requested.clear();
      hand_over_now = ready && !committed_;
    }
    if (hand_over_now) {
      stream.send(MsgType::kCommit);
      committed_ = true;
    }
    for (uint64_t addr : urgent) {
      size_t r = 0;
      uint64_t page = 0;
      if (locate_page(memory, addr, r, page) && take(r, page)) sender.add(r, page, false);
    }
    sender.flush();
    if (!urgent.empty() || !committed_) continue;
    // Background: the next word of pending pages.
    while (region < pending_.size() && word >= pending_[region].size()) {
      ++region;
      word = 0;
    }
    if (region >= pending_.size()) break;
    for (uint64_t bits = pending_[region][word]; bits; bits &= bits - 1) {
      const uint64_t page = word * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      if (take(region, page)) sender.add(region, page, false);
    }
    sender.flush();
    ++word;
  }
  stream.send(MsgType::kPostcopyDone);
  std::unique_lock lock(mutex);
  if (!cv.wait_for(lock, kPeerTimeout, [&] { return done || !error.empty(); })) {
    throw Error("the destination did not confirm the end of post-copy");
  }
  if (!error.empty()) throw Error(error);
  join.ok = true;
  progress_.update([&](MigrationStatus& s) {
    if (!resumed) s.downtime_ms = ms_since(paused_at_);
  });
}

}  // namespace hearth::migration
