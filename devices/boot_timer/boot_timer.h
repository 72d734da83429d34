#pragma once
// Firecracker's boot timer: the guest writes 123 to offset 0 when it has booted;
// the VMM logs the time since the VM was started.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

#include "devices/bus.h"
#include "devices/model/device.h"

namespace hearth {

class BootTimer final : public BusDevice, public Device {
 public:
  static constexpr uint8_t kMagicBootComplete = 123;
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void(Clock::duration since_start)>;

  BootTimer(Clock::time_point start, Callback on_boot_complete)
      : on_boot_complete_(std::move(on_boot_complete)), start_(start) {}

  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::optional<Clock::duration> boot_time() const;

  // Device: kind "boot-timer". Steady-clock time points mean nothing in another process, so the state holds
  // durations: "elapsed_ns" since start at save time and "boot_time_ns" (null until the guest signalled).
  // restore() moves the start back by elapsed_ns, so time keeps counting from where it was saved.
  std::string_view kind() const override { return "boot-timer"; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;

 private:
  Callback on_boot_complete_;
  mutable std::mutex mutex_;
  Clock::time_point start_;  // guarded by mutex_: restore() moves it
  std::optional<Clock::duration> boot_time_;
};

}  // namespace hearth
