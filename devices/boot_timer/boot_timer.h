#pragma once
// Firecracker's boot timer: the guest writes 123 to offset 0 when it has booted;
// the VMM logs the time since the VM was started.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

#include "devices/bus.h"

namespace hearth {

class BootTimer final : public BusDevice {
 public:
  static constexpr uint8_t kMagicBootComplete = 123;
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void(Clock::duration since_start)>;

  BootTimer(Clock::time_point start, Callback on_boot_complete)
      : start_(start), on_boot_complete_(std::move(on_boot_complete)) {}

  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::optional<Clock::duration> boot_time() const;

 private:
  Clock::time_point start_;
  Callback on_boot_complete_;
  mutable std::mutex mutex_;
  std::optional<Clock::duration> boot_time_;
};

}  // namespace hearth
