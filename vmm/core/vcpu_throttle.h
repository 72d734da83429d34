#pragma once
// Auto-converge for live migration: takes a share of every vCPU's time away from KVM_RUN. A vCPU
// sleeps its share when it leaves KVM_RUN (VcpuThread::set_throttle); this ticker makes sure it
// leaves at least once a slice, even when the guest makes no exits.
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/core/vcpu_thread.h"

namespace hearth {

class VcpuThrottle {
 public:
  explicit VcpuThrottle(std::vector<VcpuThread*> vcpus) : vcpus_(std::move(vcpus)) {}
  VcpuThrottle(const VcpuThrottle&) = delete;
  VcpuThrottle& operator=(const VcpuThrottle&) = delete;
  ~VcpuThrottle();

  // 0..99 percent of each slice asleep; 0 stops the ticker thread.
  void set(unsigned percent);
  unsigned percent() const;

 private:
  void tick();

  std::vector<VcpuThread*> vcpus_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  unsigned percent_ = 0;
  bool stop_ = false;
  std::thread ticker_;
};

}  // namespace hearth
