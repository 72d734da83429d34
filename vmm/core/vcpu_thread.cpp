#include "vmm/core/vcpu_thread.h"

#include <signal.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth {
namespace {

// A signal with a no-op handler (no SA_RESTART) makes a blocked KVM_RUN return EINTR.
int kick_signal() { return SIGRTMIN + 1; }

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    if (::sigaction(kick_signal(), &sa, nullptr) < 0) throw_errno("sigaction for vCPU kick signal");
  });
}

std::string describe_internal_error(const kvm_run* run) {
  std::string text = fmt::format("KVM internal error, suberror {}", run->internal.suberror);
  if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) text += " (instruction emulation failure)";
  for (uint32_t i = 0; i < run->internal.ndata && i < 16; ++i) text += fmt::format(" {:#x}", run->internal.data[i]);
  return text;
}

}  // namespace

VcpuThread::VcpuThread(kvm::Vcpu vcpu, const Bus& pio, const Bus& mmio, StopCallback on_stop)
    : vcpu_(std::move(vcpu)), pio_(pio), mmio_(mmio), on_stop_(std::move(on_stop)) {
  install_kick_handler();
}

VcpuThread::~VcpuThread() {
  request_stop();
  join();
}

void VcpuThread::start() {
  thread_ = std::thread([this] {
    // Named so profilers, benchmarks and `top -H` can tell vCPUs from the VMM and API threads.
    ::pthread_setname_np(pthread_self(), fmt::format("fc_vcpu {}", vcpu_.id()).c_str());
    seccomp::install_thread_filter(seccomp::ThreadKind::kVcpu);  // before the guest can cause an exit
    running_ = true;
    loop();
  });
  // No wait for the thread to run (a yield spin cost ~1.3 ms on 2 CPUs): a kick before it reaches
  // KVM_RUN is still seen, through immediate_exit, and the kick signal's handler is process-wide.
  native_ = thread_.native_handle();
  started_ = true;
}

void VcpuThread::kick() {
  vcpu_.run_struct()->immediate_exit = 1;
  if (started_ && thread_.joinable()) ::pthread_kill(native_, kick_signal());
}

void VcpuThread::kick_for_throttle() {
  if (running_.load(std::memory_order_acquire)) ::pthread_kill(native_, kick_signal());
}

void VcpuThread::sleep_if_throttled() {
  const unsigned percent = throttle_percent_.load(std::memory_order_relaxed);
  if (percent == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < throttle_run_until_) return;
  std::this_thread::sleep_for(kThrottleSlice * percent / 100);
  throttle_run_until_ = std::chrono::steady_clock::now() + kThrottleSlice * (100 - percent) / 100;
}

void VcpuThread::pause() {
  std::unique_lock lock(mutex_);
  if (want_ == Want::kStop) return;
  want_ = Want::kPause;
  kick();
  cv_.wait(lock, [this] { return parked_ || want_ == Want::kStop || !thread_.joinable(); });
}

void VcpuThread::resume() {
  std::lock_guard lock(mutex_);
  if (want_ == Want::kPause) want_ = Want::kRun;
  cv_.notify_all();
}

void VcpuThread::request_stop() {
  std::lock_guard lock(mutex_);
  want_ = Want::kStop;
  kick();
  cv_.notify_all();
}

void VcpuThread::join() {
  if (thread_.joinable()) thread_.join();
}

void VcpuThread::park_if_paused() {
  {
    std::lock_guard lock(mutex_);
    if (want_ != Want::kPause) return;
  }
  // KVM completes a PIO/MMIO exit (RAX, RIP) only on the next KVM_RUN; with immediate_exit it does that
  // and returns at once, so a parked vCPU's saved state never sits halfway through an instruction.
  vcpu_.run_struct()->immediate_exit = 1;
  vcpu_.run();
  std::unique_lock lock(mutex_);
  if (want_ != Want::kPause) return;
  parked_ = true;
  cv_.notify_all();
  cv_.wait(lock, [this] { return want_ != Want::kPause; });
  parked_ = false;
}

void VcpuThread::loop() {
  try {
    for (;;) {
      park_if_paused();
      {
        std::lock_guard lock(mutex_);
        if (want_ == Want::kStop) break;
        vcpu_.run_struct()->immediate_exit = 0;
        if (want_ != Want::kRun) continue;
      }
      sleep_if_throttled();
      if (!vcpu_.run()) {
        ++exits_.signalled;
        continue;
      }
      if (!handle_exit()) break;
    }
  } catch (const std::exception& e) {
    on_stop_(GuestStop::kFailure, fmt::format("vCPU {}: {}", vcpu_.id(), e.what()));
  }
  running_.store(false, std::memory_order_release);
  std::lock_guard lock(mutex_);
  parked_ = true;  // a pause() waiting on a finished thread must not hang
  cv_.notify_all();
}

bool VcpuThread::handle_exit() {
  kvm_run* run = vcpu_.run_struct();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      const size_t size = run->io.size;
      for (uint32_t i = 0; i < run->io.count; ++i) {
        std::span<uint8_t> data(base + i * size, size);
        bool claimed;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          ++exits_.io_out;
          claimed = pio_.write(run->io.port, data);
        } else {
          ++exits_.io_in;
          claimed = pio_.read(run->io.port, data);  // unclaimed ports read as all ones
        }
        if (!claimed) SPDLOG_DEBUG("vCPU {}: unclaimed port {:#x} ({} bytes)", vcpu_.id(), run->io.port, size);
      }
      return true;
    }
    case KVM_EXIT_MMIO: {
      std::span<uint8_t> data(run->mmio.data, std::min<size_t>(run->mmio.len, sizeof(run->mmio.data)));
      bool claimed;
      if (run->mmio.is_write) {
        ++exits_.mmio_write;
        claimed = mmio_.write(run->mmio.phys_addr, data);
      } else {
        ++exits_.mmio_read;
        claimed = mmio_.read(run->mmio.phys_addr, data);
      }
      if (!claimed) SPDLOG_DEBUG("vCPU {}: unclaimed MMIO {:#x} ({} bytes)", vcpu_.id(), run->mmio.phys_addr, data.size());
      return true;
    }
    case KVM_EXIT_SHUTDOWN:
      on_stop_(GuestStop::kReset, fmt::format("vCPU {}: triple fault (guest reset)", vcpu_.id()));
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
        on_stop_(GuestStop::kReset, fmt::format("vCPU {}: guest reset", vcpu_.id()));
      } else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
        on_stop_(GuestStop::kShutdown, fmt::format("vCPU {}: guest shutdown", vcpu_.id()));
      } else {
        on_stop_(GuestStop::kFailure, fmt::format("vCPU {}: system event {}", vcpu_.id(), run->system_event.type));
      }
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      on_stop_(GuestStop::kFailure, fmt::format("vCPU {}: {}", vcpu_.id(), describe_internal_error(run)));
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      on_stop_(GuestStop::kFailure,
               fmt::format("vCPU {}: VM entry failed, reason {:#x}", vcpu_.id(),
                           run->fail_entry.hardware_entry_failure_reason));
      return false;
    case KVM_EXIT_INTR:
      ++exits_.signalled;
      return true;
    case KVM_EXIT_HLT:
      // With the in-kernel irqchip HLT stays in the kernel; an exit here means no more work can come.
      on_stop_(GuestStop::kShutdown, fmt::format("vCPU {}: halted", vcpu_.id()));
      return false;
    default:
      ++exits_.other;
      on_stop_(GuestStop::kFailure, fmt::format("vCPU {}: unexpected exit reason {}", vcpu_.id(), run->exit_reason));
      return false;
  }
}

}  // namespace hearth
