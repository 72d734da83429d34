#include "vmm/core/vcpu_throttle.h"

#include <pthread.h>

#include <algorithm>

namespace hearth {

VcpuThrottle::~VcpuThrottle() { set(0); }

void VcpuThrottle::set(unsigned percent) {
  percent = std::min(percent, 99u);
  for (VcpuThread* v : vcpus_) v->set_throttle(percent);
  std::unique_lock lock(mutex_);
  percent_ = percent;
  if (percent > 0 && !ticker_.joinable()) {
    stop_ = false;
    ticker_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "hearth_throttle");
      tick();
    });
  } else if (percent == 0 && ticker_.joinable()) {
    stop_ = true;
    cv_.notify_all();
    lock.unlock();
    ticker_.join();
  }
}

unsigned VcpuThrottle::percent() const {
  std::lock_guard lock(mutex_);
  return percent_;
}

void VcpuThrottle::tick() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    for (VcpuThread* v : vcpus_) v->kick_for_throttle();
    lock.lock();
    cv_.wait_for(lock, VcpuThread::kThrottleSlice, [this] { return stop_; });
  }
}

}  // namespace hearth
