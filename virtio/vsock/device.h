#pragma once
// virtio-vsock (socket device, virtio 1.2, 5.10) with Firecracker's hybrid Unix-socket backend (muxer.h).
// Three queues: rx (device -> driver packets), tx (driver -> device) and event (transport reset after a
// snapshot restore). Config space: the guest's CID (le64). Queue work runs on the VMM thread with the
// device mutex held; the muxer's socket handlers take the same mutex.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/model/device.h"
#include "virtio/device.h"
#include "virtio/vsock/config.h"
#include "virtio/vsock/metrics.h"
#include "virtio/vsock/muxer.h"
#include "virtio/vsock/state.h"
#include "vmm/base/event_loop.h"

namespace hearth::virtio::vsock {

inline constexpr std::string_view kKind = "virtio-vsock";

class VsockDevice final : public VirtioDevice, public hearth::Device {
 public:
  // Binds config.uds_path (throws Error if it is in use). `loop` null: no host sockets (fuzzing).
  VsockDevice(const VsockConfig& config, EventLoop* loop);
  ~VsockDevice() override;

  // --- VirtioDevice ---
  uint32_t device_type() const override;
  uint64_t avail_features() const override { return avail_features_; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize, kQueueSize}; }
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
  // Connections are gone after a restore; the guest gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET once active.
  void restore(const DeviceState& state) override;
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

  const VsockMetrics& metrics() const { return metrics_; }
  const VsockConfig& config() const { return config_; }
  // Caller holds mutex().
  const Muxer& muxer() const { return *muxer_; }

 private:
  void process_tx();
  void fill_rx();
  void fill_event();
  bool complete(uint16_t queue, uint16_t head, uint32_t len);
  void signal_used();
  void queue_broken(QueueError error);
  // Pops the next chain of `queue`; false when empty or broken (then reported).
  bool pop(uint16_t queue, DescriptorChain& chain);

  VsockConfig config_;
  uint64_t avail_features_ = 0;
  VsockMetrics metrics_;
  std::unique_ptr<Muxer> muxer_;

  bool activated_ = false;
  const GuestMemory* memory_ = nullptr;
  std::span<Queue> queues_;
  VirtioInterrupt* interrupt_ = nullptr;
  uint64_t acked_features_ = 0;
  bool used_pending_[3] = {false, false, false};
  bool reset_event_pending_ = false;
  std::vector<uint8_t> scratch_;
};

}  // namespace hearth::virtio::vsock
