#include "devices/boot_timer/boot_timer.h"

#include <cstdint>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

constexpr uint32_t kStateVersion = 1;
// Far beyond any uptime, and small enough that now() - elapsed cannot overflow the clock.
constexpr int64_t kMaxNs = std::numeric_limits<int64_t>::max() / 4;

int64_t ns_field(const nlohmann::json& data, const char* name, bool nullable, bool& is_null) {
  if (!data.is_object()) throw Error("boot-timer: state data is not a JSON object");
  auto it = data.find(name);
  if (it == data.end()) throw Error(fmt::format("boot-timer: state field '{}' is missing", name));
  is_null = it->is_null();
  if (is_null && nullable) return 0;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxNs) {
    throw Error(fmt::format("boot-timer: state field '{}' must be an integer 0..{} (nanoseconds), not {}", name,
                            kMaxNs, it->dump()));
  }
  return it->get<int64_t>();
}

}  // namespace

void BootTimer::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.empty() || data[0] != kMagicBootComplete) return;
  const Clock::time_point now = Clock::now();
  Clock::duration elapsed;
  {
    std::lock_guard lock(mutex_);
    if (boot_time_) return;  // only the first signal counts
    elapsed = now - start_;
    boot_time_ = elapsed;
  }
  if (on_boot_complete_) on_boot_complete_(elapsed);
}

std::optional<BootTimer::Clock::duration> BootTimer::boot_time() const {
  std::lock_guard lock(mutex_);
  return boot_time_;
}

DeviceState BootTimer::save() const {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mutex_);
  nlohmann::json data = {
      {"elapsed_ns", duration_cast<nanoseconds>(now - start_).count()},
      {"boot_time_ns", boot_time_ ? nlohmann::json(duration_cast<nanoseconds>(*boot_time_).count()) : nullptr},
  };
  return DeviceState{std::string(kind()), "", kStateVersion, std::move(data)};
}

void BootTimer::restore(const DeviceState& state) {
  check_state_header(state, kind(), kStateVersion);
  bool is_null = false;
  const int64_t elapsed = ns_field(state.data, "elapsed_ns", false, is_null);
  const int64_t boot = ns_field(state.data, "boot_time_ns", true, is_null);
  if (!is_null && boot > elapsed) {
    throw Error(fmt::format("boot-timer: state field 'boot_time_ns' ({}) is later than 'elapsed_ns' ({})", boot,
                            elapsed));
  }
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mutex_);
  start_ = now - std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(elapsed));
  if (is_null) {
    boot_time_.reset();
  } else {
    boot_time_ = std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(boot));
  }
}

}  // namespace hearth
