#pragma once
// virtio-net (spec 5.1) on a host TAP, Firecracker semantics: rx queue 0, tx queue 1, a 12-byte
// virtio 1.0 header on every frame, checksum/segmentation offloads passed through to the TAP.
// Frames move between guest memory and the TAP with readv/writev, never copied, except frames for the
// interface's MMDS stack. Queue work runs under mutex(): kicks come from the transport, TAP readiness and
// the rate limiters' timers from the EventLoop (VMM thread).
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/model/device.h"
#include "virtio/device.h"
#include "virtio/event_registration.h"
#include "virtio/net/backend.h"
#include "virtio/net/config.h"
#include "virtio/net/defs.h"
#include "virtio/net/metrics.h"
#include "virtio/net/mmds_port.h"
#include "virtio/net/state.h"
#include "virtio/rate_limiter/rate_limiter.h"
#include "vmm/base/event_loop.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::net {

class NetDevice final : public VirtioDevice,
                        public hearth::Device,
                        public std::enable_shared_from_this<NetDevice> {
 public:
  // `loop` may be null in tests, which then call the handle_*() methods themselves. `mmds` may be null.
  // Build it with std::make_shared (activation hands the VMM thread a weak reference).
  NetDevice(NetConfig config, std::unique_ptr<Backend> backend, EventLoop* loop,
            std::unique_ptr<MmdsPort> mmds = nullptr,
            std::shared_ptr<const Clock> clock = std::make_shared<MonotonicClock>());
  ~NetDevice() override;

  // --- VirtioDevice ---
  uint32_t device_type() const override;
  uint64_t avail_features() const override { return avail_features_; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                uint64_t acked_features) override;
  bool activated() const override { return activated_; }
  void reset() override;
  void process_queue(uint16_t index) override;  // caller holds mutex()

  // --- hearth::Device ---
  std::string_view kind() const override { return kKind; }
  std::string id() const override { return config_.iface_id; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;
  // PATCH /network-interfaces/{id}: {"iface_id", "rx_rate_limiter", "tx_rate_limiter"} (validated).
  void api_patch(std::string_view sub, const nlohmann::json& patch) override;
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

  // Event-loop handlers (each takes the mutex).
  void handle_tap_event(uint32_t events);
  void handle_rx_limiter_timer();
  void handle_tx_limiter_timer();
  void handle_mmds_timer();

  void update_rate_limiters(const BucketUpdate& rx_bytes, const BucketUpdate& rx_ops, const BucketUpdate& tx_bytes,
                            const BucketUpdate& tx_ops);

  const NetMetrics& metrics() const { return metrics_; }
  const NetConfig& config() const { return config_; }
  uint64_t acked_features() const { return acked_features_; }
  const RateLimiter& rx_rate_limiter() const { return rx_limiter_; }
  const RateLimiter& tx_rate_limiter() const { return tx_limiter_; }
  // Whether the device waits for the TAP to be readable (false while the guest has no rx buffers).
  bool tap_watched() const { return tap_watched_; }
  int mmds_timer_fd() const { return mmds_timer_.get(); }

 private:
  enum class Rx { kDelivered, kDropped, kNoBuffers, kEmpty, kStop };
  struct RxChains {
    std::vector<uint16_t> heads;
    std::vector<uint32_t> lens;  // writable bytes of each chain
    std::vector<iovec> iov;
  };

  void process_rx();
  void process_tx();
  Rx gather_rx(RxChains& out);
  Rx read_tap_frame();
  Rx deliver_mmds_frame();
  // Hands `written` bytes (header included) over the gathered chains back; unused chains are un-popped.
  bool complete_rx(const RxChains& chains, size_t written);
  void give_back(const RxChains& chains, size_t from);
  bool send_frame(const DescriptorChain& chain);
  bool to_mmds(const DescriptorChain& chain);
  void set_tap_watch(bool on);
  void apply_tap_watch();
  void start_rx();
  void drop_tap(std::string_view why);
  void arm_mmds_timer();
  bool add_used(uint16_t queue, uint16_t head, uint32_t len);
  void signal_used(uint16_t queue);
  void queue_broken(uint16_t queue, QueueError error);
  bool mergeable() const;

  NetConfig config_;
  std::unique_ptr<Backend> backend_;
  EventLoop* loop_;
  std::unique_ptr<MmdsPort> mmds_;
  std::shared_ptr<const Clock> clock_;
  uint64_t avail_features_ = 0;
  RateLimiter rx_limiter_;
  RateLimiter tx_limiter_;
  NetMetrics metrics_;
  std::vector<uint8_t> mmds_scratch_;  // a guest frame copied out for the MMDS stack

  bool activated_ = false;
  const GuestMemory* memory_ = nullptr;
  std::span<Queue> queues_;
  VirtioInterrupt* interrupt_ = nullptr;
  uint64_t acked_features_ = 0;
  bool used_pending_[2] = {false, false};
  bool tap_watched_ = false;
  bool tap_registered_ = false;
  bool epoll_watching_ = false;  // what the EventLoop has, changed on the VMM thread only
  bool tap_failed_ = false;  // the TAP is gone; only MMDS frames reach the guest

  UniqueFd mmds_timer_;
  EventRegistration tap_reg_;
  EventRegistration rx_timer_reg_;
  EventRegistration tx_timer_reg_;
  EventRegistration mmds_timer_reg_;
};

}  // namespace hearth::virtio::net
