#pragma once
// Runs work on the VMM thread from a migration thread and waits for it: the Vmm is the VMM thread's
// (pause, save, restore, build), the migration thread only reads memory and talks to the peer.
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <type_traits>

#include "vmm/base/error.h"
#include "vmm/base/event_loop.h"

namespace hearth::migration {

// Throws Error when the loop stops or `cancelled` is set before `f` ran; rethrows what `f` threw.
template <typename F>
auto call_on_loop(EventLoop& loop, const std::atomic<bool>& cancelled, F&& f) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  // `f` lives on this stack until the task ran: a stopped loop never runs it.
  loop.post([promise, &f] {
    try {
      if constexpr (std::is_void_v<R>) {
        f();
        promise->set_value();
      } else {
        promise->set_value(f());
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (cancelled.load() || loop.stopped()) throw Error("migration: the VMM is shutting down");
  }
  return future.get();
}

}  // namespace hearth::migration
