#pragma once
// Hands typed calls from the API thread to the VMM thread and carries the reply back.
// The VMM thread registers eventfd() in its EventLoop and calls drain(controller) when readable.
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>

#include "api/controller.h"
#include "vmm/base/eventfd.h"

namespace hearth::api {

class RequestQueue {
 public:
  using Task = std::function<void(Controller&)>;

  RequestQueue() = default;
  RequestQueue(const RequestQueue&) = delete;
  RequestQueue& operator=(const RequestQueue&) = delete;
  ~RequestQueue() { shutdown(); }

  int eventfd() const { return wakeup_.fd(); }

  // API thread: runs `task` on the VMM thread and waits until it has run. Returns false, without
  // running it, once shutdown() was called. An exception from `task` is rethrown here.
  bool run(const Task& task);

  // API thread: typed convenience over run(); a shut-down queue answers 503.
  template <typename F>
  auto call(F f) -> std::invoke_result_t<F, Controller&> {
    using R = std::invoke_result_t<F, Controller&>;
    std::optional<R> result;
    if (!run([&](Controller& c) { result.emplace(f(c)); })) {
      return Fault{503, "the VMM is shutting down"};
    }
    return std::move(*result);
  }

  // VMM thread: runs every queued task against `controller`.
  void drain(Controller& controller);
  // Refuses new tasks and releases waiting callers, so no API thread waits forever.
  void shutdown();

 private:
  struct Pending;

  EventFd wakeup_;
  std::mutex mutex_;
  std::deque<Pending*> pending_;
  bool shut_down_ = false;
};

}  // namespace hearth::api
