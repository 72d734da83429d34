#pragma once
// virtio-balloon (spec 5.5), Firecracker semantics. Queues: inflate, deflate, then statistics (when
// stats_polling_interval_s > 0) and free page reporting (when free_page_reporting), in that order, as
// the Linux driver numbers them. Inflated PFNs and reported ranges are checked against guest RAM and
// their host pages discarded (GuestMemory::discard), so the process RSS drops; deflated pages simply
// fault back in as zero pages. The statistics buffer is held and handed back at each polling interval
// (a timerfd on the event loop), which makes the driver send fresh numbers.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/model/device.h"
#include "virtio/balloon/config.h"
#include "virtio/balloon/metrics.h"
#include "virtio/balloon/pages.h"
#include "virtio/balloon/state.h"
#include "virtio/device.h"
#include "virtio/event_registration.h"
#include "vmm/base/event_loop.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::balloon {

inline constexpr uint32_t kDeviceIdBalloon = 5;
inline constexpr uint32_t kFeatureStatsVq = 1;
inline constexpr uint32_t kFeatureDeflateOnOom = 2;
inline constexpr uint32_t kFeatureFreePageReporting = 5;
inline constexpr uint16_t kQueueSize = 256;
inline constexpr uint16_t kInflateQueue = 0;
inline constexpr uint16_t kDeflateQueue = 1;
inline constexpr uint32_t kPagesPerMib = 256;
inline constexpr std::string_view kKind = "virtio-balloon";

class BalloonDevice final : public VirtioDevice, public hearth::Device {
 public:
  // `loop` may be null in tests, which then call handle_stats_timer() themselves.
  BalloonDevice(const BalloonConfig& config, EventLoop* loop);
  ~BalloonDevice() override;

  // --- VirtioDevice ---
  uint32_t device_type() const override { return kDeviceIdBalloon; }
  uint64_t avail_features() const override { return avail_features_; }
  std::vector<uint16_t> queue_max_sizes() const override;
  // struct virtio_balloon_config: num_pages (le32, target), actual (le32, the driver writes it).
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                uint64_t acked_features) override;
  bool activated() const override { return activated_; }
  void reset() override;
  void process_queue(uint16_t index) override;

  // --- hearth::Device ---
  std::string_view kind() const override { return kKind; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;
  // "" {amount_mib}: new target; "statistics" {stats_polling_interval_s}: new interval (not to or from 0).
  void api_patch(std::string_view sub, const nlohmann::json& patch) override;
  // "": the configuration with the live target; "statistics": Firecracker's BalloonStats.
  nlohmann::json api_get(std::string_view sub) const override;
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

  // Event-loop handler of the statistics timer (takes the mutex).
  void handle_stats_timer();

  const BalloonMetrics& metrics() const { return metrics_; }
  int stats_timer_fd() const { return timer_.get(); }
  uint32_t target_pages() const { return num_pages_; }
  uint32_t actual_pages() const { return actual_; }

 private:
  std::optional<uint16_t> stats_queue() const;
  std::optional<uint16_t> reporting_queue() const;
  void drain(uint16_t index);
  void handle_chain(uint16_t index, const DescriptorChain& chain);
  void discard_pfns(std::span<const uint8_t> bytes);
  uint64_t discard_range(GuestRange range);
  // The chain's readable bytes, cut at `cap` (or nullopt when longer, unless `truncate`).
  std::optional<std::vector<uint8_t>> gather(const DescriptorChain& chain, uint32_t cap, bool truncate) const;
  bool complete(uint16_t index, uint16_t head, uint32_t len);
  void signal_used(uint16_t index);
  void queue_broken(QueueError error);
  void arm_timer();
  void set_target(uint32_t amount_mib);

  BalloonConfig config_;
  uint64_t avail_features_ = 0;
  uint32_t num_pages_ = 0;
  uint32_t actual_ = 0;
  std::optional<uint16_t> stats_head_;
  std::optional<BalloonStats> stats_;
  BalloonMetrics metrics_;

  bool activated_ = false;
  const GuestMemory* memory_ = nullptr;
  std::span<Queue> queues_;
  VirtioInterrupt* interrupt_ = nullptr;
  uint64_t acked_features_ = 0;

  UniqueFd timer_;
  EventRegistration timer_reg_;
};

}  // namespace hearth::virtio::balloon
