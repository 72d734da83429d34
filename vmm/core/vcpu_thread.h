#pragma once
// One thread per vCPU: KVM_RUN in a loop, PIO/MMIO exits dispatched through the buses.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "devices/bus.h"
#include "vmm/kvm/kvm.h"

namespace hearth {

// Why the guest stopped running, as reported by a vCPU thread.
enum class GuestStop {
  kReset,     // reset request or triple fault: a clean end of the VM
  kShutdown,  // ACPI/PSCI-style shutdown system event
  kFailure,   // KVM could not continue (emulation failure, entry failure, internal error)
};

// Counters of vCPU exits by reason, read by metrics.
struct VcpuExitCounters {
  std::atomic<uint64_t> io_in{0}, io_out{0}, mmio_read{0}, mmio_write{0}, signalled{0}, other{0};
};

class VcpuThread {
 public:
  using StopCallback = std::function<void(GuestStop, const std::string& detail)>;

  VcpuThread(kvm::Vcpu vcpu, const Bus& pio, const Bus& mmio, StopCallback on_stop);
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;
  ~VcpuThread();

  void start();
  // Pause blocks until the vCPU is out of KVM_RUN and parked.
  void pause();
  void resume();
  // Asks the thread to leave KVM_RUN and end; join happens in the destructor or join().
  void request_stop();
  void join();
  // Auto-converge (live migration): of every kThrottleSlice the vCPU spends `percent` (0..99) asleep
  // instead of in KVM_RUN. A guest that makes no exits is kicked out by kick_for_throttle(), which
  // VcpuThrottle calls every slice from its own thread.
  static constexpr std::chrono::milliseconds kThrottleSlice{10};
  void set_throttle(unsigned percent) { throttle_percent_.store(percent, std::memory_order_relaxed); }
  unsigned throttle() const { return throttle_percent_.load(std::memory_order_relaxed); }
  void kick_for_throttle();

  const kvm::Vcpu& vcpu() const { return vcpu_; }
  const VcpuExitCounters& exits() const { return exits_; }

 private:
  enum class Want { kRun, kPause, kStop };
  void loop();
  void kick();
  // Returns false when the guest must stop.
  bool handle_exit();
  void park_if_paused();
  void sleep_if_throttled();

  kvm::Vcpu vcpu_;
  const Bus& pio_;
  const Bus& mmio_;
  StopCallback on_stop_;
  VcpuExitCounters exits_;

  std::mutex mutex_;
  std::condition_variable cv_;
  Want want_ = Want::kRun;
  bool parked_ = false;
  std::atomic<bool> started_{false};
  std::atomic<bool> running_{false};  // between start and the end of loop(): it may be signalled
  std::atomic<unsigned> throttle_percent_{0};
  std::chrono::steady_clock::time_point throttle_run_until_{};
  pthread_t native_{};
  std::thread thread_;
};

}  // namespace hearth
