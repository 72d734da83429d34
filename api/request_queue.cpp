#include "api/request_queue.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>

namespace hearth::api {

// Lives on the waiting API thread's stack; the VMM thread fills it in and notifies.
struct RequestQueue::Pending {
  const Task* task;
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> done_hint{false};  // read without the mutex while spinning
  bool ran = false;
  std::exception_ptr error;

  void finish(bool did_run) {
    std::lock_guard lock(mutex);
    ran = did_run;
    done = true;
    done_hint.store(true, std::memory_order_release);
    cv.notify_one();
  }
};

namespace {

// Most calls (a config PUT, a GET) take the VMM thread a few microseconds; spinning that long saves the
// futex sleep and wake-up, ~20 us of each API round trip on a nested host (bench/api_bench.py). Bounded,
// so a slow call (InstanceStart, a snapshot) costs one short spin and then sleeps.
constexpr auto kReplySpin = std::chrono::microseconds(50);

void spin_until(const std::atomic<bool>& flag) {
  const auto until = std::chrono::steady_clock::now() + kReplySpin;
  while (!flag.load(std::memory_order_acquire)) {
    for (int i = 0; i < 64; ++i) __builtin_ia32_pause();
    if (std::chrono::steady_clock::now() >= until) return;
  }
}

}  // namespace

bool RequestQueue::run(const Task& task) {
  Pending p;
  p.task = &task;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return false;
    pending_.push_back(&p);
  }
  wakeup_.signal();
  spin_until(p.done_hint);
  // Taken even after a successful spin: finish() may still hold it while it notifies.
  std::unique_lock lock(p.mutex);
  p.cv.wait(lock, [&] { return p.done; });
  if (p.error) std::rethrow_exception(p.error);
  return p.ran;
}

void RequestQueue::drain(Controller& controller) {
  wakeup_.consume();
  std::deque<Pending*> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
  }
  for (Pending* p : batch) {
    try {
      (*p->task)(controller);
    } catch (...) {
      p->error = std::current_exception();
    }
    p->finish(true);
  }
}

void RequestQueue::shutdown() {
  std::deque<Pending*> batch;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    batch.swap(pending_);
  }
  for (Pending* p : batch) p->finish(false);
}

}  // namespace hearth::api
