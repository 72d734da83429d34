#include "devices/boot_timer/boot_timer.h"

namespace hearth {

void BootTimer::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.empty() || data[0] != kMagicBootComplete) return;
  Clock::duration elapsed = Clock::now() - start_;
  {
    std::lock_guard lock(mutex_);
    if (boot_time_) return;  // only the first signal counts
    boot_time_ = elapsed;
  }
  if (on_boot_complete_) on_boot_complete_(elapsed);
}

std::optional<BootTimer::Clock::duration> BootTimer::boot_time() const {
  std::lock_guard lock(mutex_);
  return boot_time_;
}

}  // namespace hearth
