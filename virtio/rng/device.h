#pragma once
// virtio-rng (entropy device, spec 5.4), Firecracker semantics: one request queue whose chains are
// all device-writable buffers; the device fills them with getrandom() bytes, optionally behind a
// rate limiter (bytes and ops buckets). No configuration space. Queue work runs on the VMM thread;
// the rate limiter's timer fd is registered in the EventLoop and takes the device mutex.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/model/device.h"
#include "virtio/device.h"
#include "virtio/event_registration.h"
#include "virtio/rate_limiter/rate_limiter.h"
#include "virtio/rng/config.h"
#include "virtio/rng/metrics.h"
#include "virtio/rng/state.h"
#include "vmm/base/event_loop.h"

namespace hearth::virtio::rng {

inline constexpr uint16_t kQueueSize = 256;
// Most random bytes one request gets; a bigger buffer is filled this far (used len says so).
inline constexpr uint32_t kMaxRequestBytes = 64 * 1024;
inline constexpr std::string_view kKind = "virtio-rng";

class RngDevice final : public VirtioDevice, public hearth::Device {
 public:
  // `loop` may be null in tests, which then call handle_rate_limiter_timer() themselves.
  explicit RngDevice(const EntropyDeviceConfig& config, EventLoop* loop,
                     std::shared_ptr<const Clock> clock = std::make_shared<MonotonicClock>());
  ~RngDevice() override;

  // --- VirtioDevice ---
  uint32_t device_type() const override;
  uint64_t avail_features() const override { return avail_features_; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
  // No configuration space: reads are 0, writes are ignored.
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                uint64_t acked_features) override;
  bool activated() const override { return activated_; }
  void reset() override;
  // Caller holds mutex() (the transport does).
  void process_queue(uint16_t index) override;

  // --- hearth::Device (save/restore take the mutex; only called with the vCPUs paused) ---
  std::string_view kind() const override { return kKind; }
  std::string id() const override { return {}; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;
  // prefix + "activate_count", "event_count", "requests", "entropy_bytes", "event_fails",
  // "host_rng_fails", "rate_limiter_throttled", "rate_limiter_event_count", "queue_errors".
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

  const RngMetrics& metrics() const { return metrics_; }
  const RateLimiter& rate_limiter() const { return limiter_; }
  uint64_t acked_features() const { return acked_features_; }

  // PATCH /entropy after boot (VMM thread; takes the mutex).
  void update_rate_limiter(const BucketUpdate& bytes, const BucketUpdate& ops);

  // Event-loop handler for the rate limiter's timer fd (takes the mutex).
  void handle_rate_limiter_timer();

 private:
  void drain_queue();
  bool rate_limit(uint32_t bytes);
  // Fills the first `len` bytes of the chain's writable buffers; false if the host RNG failed.
  bool fill_random(std::span<const GuestBuffer> buffers);
  // Returns the chain with `len` bytes written; false when the queue broke doing so.
  bool complete(uint16_t head, uint32_t len);
  void signal_used();
  void queue_broken(QueueError error);

  std::shared_ptr<const Clock> clock_;
  uint64_t avail_features_ = 0;
  RateLimiter limiter_;
  RngMetrics metrics_;

  bool activated_ = false;
  const GuestMemory* memory_ = nullptr;
  Queue* queue_ = nullptr;
  VirtioInterrupt* interrupt_ = nullptr;
  uint64_t acked_features_ = 0;
  bool used_pending_signal_ = false;

  EventRegistration timer_reg_;
};

}  // namespace hearth::virtio::rng
