#include "api/request_queue.h"

#include <condition_variable>
#include <exception>

namespace hearth::api {

// Lives on the waiting API thread's stack; the VMM thread fills it in and notifies.
struct RequestQueue::Pending {
  const Task* task;
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  bool ran = false;
  std::exception_ptr error;

  void finish(bool did_run) {
    std::lock_guard lock(mutex);
    ran = did_run;
    done = true;
    cv.notify_one();
  }
};

bool RequestQueue::run(const Task& task) {
  Pending p;
  p.task = &task;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return false;
    pending_.push_back(&p);
  }
  wakeup_.signal();
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
