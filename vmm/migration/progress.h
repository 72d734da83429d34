#pragma once
// A migration's progress, written by its thread and read by GET /migration.
#include <chrono>
#include <functional>
#include <mutex>

#include "vmm/config/migration.h"

namespace hearth::migration {

class Progress {
 public:
  MigrationStatus get() const {
    std::lock_guard lock(mutex_);
    MigrationStatus s = status_;
    if (s.phase != MigrationPhase::kCompleted && s.phase != MigrationPhase::kFailed && s.phase != MigrationPhase::kIdle) {
      s.total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    }
    return s;
  }
  template <typename F>
  void update(F&& f) {
    std::lock_guard lock(mutex_);
    f(status_);
  }
  void start() {
    std::lock_guard lock(mutex_);
    started_ = std::chrono::steady_clock::now();
  }
  double elapsed_ms() const {
    std::lock_guard lock(mutex_);
    return elapsed_ms_unlocked();
  }
  // Inside update() (which holds the lock).
  double elapsed_ms_unlocked() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  }

 private:
  mutable std::mutex mutex_;
  MigrationStatus status_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace hearth::migration
