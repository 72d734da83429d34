#pragma once
// A man in the middle for migration tests: forwards one stream from a source to a destination, reading
// the frames the source sends (vmm/migration/stream.h), and injects one fault at a chosen frame: kill a
// process (SIGKILL, before the frame goes on) or flip one byte of its payload.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "vmm/migration/stream.h"

namespace hearth::test {

struct ProxyFault {
  enum class Action { kNone, kKill, kCorrupt } action = Action::kNone;
  migration::MsgType type = migration::MsgType::kPages;
  int occurrence = 1;                             // the n-th frame of `type` (counted as below)
  std::optional<uint32_t> round;                  // with kRound: only the frame announcing this round
  std::optional<migration::MsgType> after;        // count only frames after one of this type
  int pid = 0;                                    // kKill: whom
};

class MigrationProxy {
 public:
  MigrationProxy(std::string listen_path, std::string target_path, ProxyFault fault);
  ~MigrationProxy();
  MigrationProxy(const MigrationProxy&) = delete;
  MigrationProxy& operator=(const MigrationProxy&) = delete;
  void set_pid(int pid) { pid_ = pid; }
  bool fired() const { return fired_; }

 private:
  void run();
  bool matches(migration::MsgType type, const std::string& payload);

  std::string listen_path_, target_path_;
  ProxyFault fault_;
  std::atomic<int> pid_{0};
  std::atomic<bool> fired_{false};
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  int seen_ = 0;
  bool after_seen_ = false;
  std::thread thread_;
};

}  // namespace hearth::test
