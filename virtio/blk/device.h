#pragma once
// virtio-blk over a host file (spec 5.2): one request queue, sync or io_uring I/O, optional
// rate limiting. Queue work runs on the VMM thread; the device's own fds (io_uring completions,
// rate limiter timer) are registered in the EventLoop and take the device mutex.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "virtio/blk/defs.h"
#include "virtio/blk/io_engine.h"
#include "virtio/blk/metrics.h"
#include "virtio/blk/request.h"
#include "virtio/blk/state.h"
#include "devices/model/device.h"
#include "virtio/device.h"
#include "virtio/event_registration.h"
#include "virtio/rate_limiter/rate_limiter.h"
#include "vmm/base/fd.h"
#include "vmm/config/vm_config.h"
#include "vmm/base/event_loop.h"

namespace hearth::virtio::blk {

class BlkDevice : public VirtioDevice, public Device {
 public:
  // Opens the backing file (read-only drives read-only); throws Error naming drive and path.
  // `loop` may be null in tests, which then call handle_io_completions()/handle_rate_limiter_timer().
  BlkDevice(const DriveConfig& config, EventLoop* loop,
            std::shared_ptr<const Clock> clock = std::make_shared<MonotonicClock>());
  ~BlkDevice() override;

  uint32_t device_type() const override;
  uint64_t avail_features() const override { return avail_features_; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                uint64_t acked_features) override;
  bool activated() const override { return activated_; }
  void reset() override;
  // Caller holds mutex() (the transport does).
  void process_queue(uint16_t index) override;

  const BlkMetrics& metrics() const { return metrics_; }
  uint64_t capacity_sectors() const { return capacity_sectors_; }
  const std::string& drive_id() const { return config_.drive_id; }
  const RateLimiter& rate_limiter() const { return limiter_; }
  size_t in_flight() const { return pending_.size(); }

  // PATCH support (VMM thread; take the mutex themselves). A new file gets the same read-only
  // mode; an active driver sees a config-change interrupt with the new capacity.
  void update_backing_file(const std::string& path);
  void update_rate_limiter(const BucketUpdate& bytes, const BucketUpdate& ops);

  // Event-loop handlers (take the mutex).
  void handle_io_completions();
  void handle_rate_limiter_timer();

  // Finishes all in-flight I/O so the queues can be saved; then save().
  void prepare_save();
  BlkState save_blk_state() const;
  // Reapplies rate limiter budgets; throws Error if the backing file no longer matches.
  void restore_blk_state(const BlkState& state);

  // Device: kind "virtio-blk", id = drive_id; counters under "block.<drive_id>.".
  std::string_view kind() const override { return "virtio-blk"; }
  std::string id() const override { return config_.drive_id; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

 private:
  struct PendingIo {
    uint16_t head;
    uint64_t status_addr;
    uint32_t type;
    uint32_t data_len;
    std::vector<GuestBuffer> into_guest;  // IN: the buffers the read fills
  };

  void open_backing(const std::string& path);
  DiskGeometry geometry() const;
  bool rate_limit(const Request& req);
  // Runs or submits the request; false when it is still in flight.
  bool execute(uint16_t head, Request& req);
  uint8_t run_discard(const Request& req);
  void complete_io(const IoCompletion& c);
  // Writes the status byte and returns the chain; `data_len` bytes were written to the guest.
  void finish(uint16_t head, std::optional<uint64_t> status_addr, uint8_t status, uint32_t data_len);
  void signal_used();
  void queue_broken(QueueError error);
  void drain_and_complete();

  DriveConfig config_;
  std::shared_ptr<const Clock> clock_;
  UniqueFd file_;
  uint64_t capacity_sectors_ = 0;
  uint64_t avail_features_ = 0;
  std::array<uint8_t, kIdBytes> id_{};
  std::unique_ptr<IoBackend> engine_;
  RateLimiter limiter_;
  BlkMetrics metrics_;

  bool activated_ = false;
  const GuestMemory* memory_ = nullptr;
  Queue* queue_ = nullptr;
  VirtioInterrupt* interrupt_ = nullptr;
  uint64_t acked_features_ = 0;
  bool used_pending_signal_ = false;
  uint64_t next_tag_ = 1;
  std::unordered_map<uint64_t, PendingIo> pending_;

  EventRegistration completion_reg_;
  EventRegistration timer_reg_;
};

}  // namespace hearth::virtio::blk
