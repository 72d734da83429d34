#pragma once
// Named atomic counters shared by every thread. Names are dotted paths chosen by the code
// ("api.put_drive.count", "vcpu.exit.io"); a counter lives as long as its registry, so hot paths
// look it up once and keep the reference.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::metrics {

class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }
  // The increase since the previous call; Firecracker's metrics file reports such deltas.
  uint64_t take_delta() {
    uint64_t now = get();
    return now - flushed_.exchange(now, std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> value_{0};
  std::atomic<uint64_t> flushed_{0};
};

class Registry {
 public:
  // Creates the counter on first use. Throws Error for a name that is not [A-Za-z0-9_.]+ with
  // non-empty dot-separated parts.
  Counter& counter(std::string_view name);

  struct Sample {
    std::string name;
    uint64_t value;
  };
  // A text value under a counter-style name (the last snapshot path written). Rendered as a Prometheus info
  // gauge `<name>_info{value="..."} 1` and as a string in the JSON lines. Same name rules as counter().
  void set_text(std::string_view name, std::string value);
  std::string text(std::string_view name) const;

  // Cumulative values, sorted by name.
  std::vector<Sample> snapshot() const;

  // Prometheus text exposition, cumulative: "# TYPE hearth_api_put_drive_count counter\n...".
  std::string render_prometheus(std::string_view prefix = "hearth") const;
  // One JSON object nested by name parts, with deltas since the previous call and
  // "utc_timestamp_ms", like one line of Firecracker's metrics file.
  nlohmann::json take_deltas_json();

 private:
  mutable std::mutex mutex_;  // guards the map, not the counters
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_;
  std::map<std::string, std::string, std::less<>> texts_;
};

// The process-wide registry.
Registry& global();

}  // namespace hearth::metrics
