#pragma once
// Undoes what the jailer made on the host (directories, files, cgroups) when a later step fails, so
// a failed start leaves no half-made jail. Undo runs newest first; commit() keeps everything.
#include <functional>
#include <vector>

namespace hearth::jailer {

class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  }
  void add(std::function<void()> undo) { undo_.push_back(std::move(undo)); }
  void commit() { undo_.clear(); }

 private:
  std::vector<std::function<void()>> undo_;
};

}  // namespace hearth::jailer
