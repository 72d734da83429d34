#pragma once
// virtio-mmio (version 2) transport: one 4 KiB window on the MMIO bus in front of one VirtioDevice.
//
// Threads: read()/write() run on vCPU threads, notify() on the VMM thread; both take the device's
// mutex. Queue work never runs on a vCPU thread: a QueueNotify write only signals the queue's
// EventFd, which the event loop turns into notify() (the same fd serves as the KVM ioeventfd).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "devices/bus.h"
#include "devices/irq.h"
#include "virtio/device.h"
#include "virtio/event_registration.h"
#include "virtio/mmio/interrupt.h"
#include "virtio/mmio/registers.h"
#include "virtio/mmio/state.h"
#include "virtio/queue/queue.h"
#include "vmm/base/eventfd.h"
#include "vmm/base/event_loop.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio::mmio {

class MmioTransport : public BusDevice {
 public:
  // Offset of QueueNotify in the window: register a KVM ioeventfd (4 bytes, datamatch = queue index)
  // at base + kNotifyOffset with queue_event(i).
  static constexpr uint64_t kNotifyOffset = kRegQueueNotify;

  // With `loop`, the queue EventFds are registered there and call notify(). Without it (tests,
  // no event loop), a QueueNotify write calls notify() directly on the writing thread.
  MmioTransport(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, std::shared_ptr<IrqLine> irq,
                EventLoop* loop = nullptr);
  ~MmioTransport() override;
  MmioTransport(const MmioTransport&) = delete;
  MmioTransport& operator=(const MmioTransport&) = delete;

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // The driver kicked queue `index` (VMM thread). Ignored before DRIVER_OK or for a bad index.
  void notify(uint16_t index);

  uint16_t num_queues() const { return static_cast<uint16_t>(queues_.size()); }
  const EventFd& queue_event(uint16_t index) const { return queue_events_.at(index); }
  bool activated() const;
  uint32_t status() const;
  VirtioDevice& device() const { return *device_; }
  const MmioInterrupt& interrupt() const { return interrupt_; }

  // Called with the device mutex held, on the vCPU thread that wrote DRIVER_OK / the reset; the
  // lead registers ioeventfds here. They must not call back into this transport.
  void set_activated_callback(std::function<void()> cb) { on_activated_ = std::move(cb); }
  void set_reset_callback(std::function<void()> cb) { on_reset_ = std::move(cb); }

  TransportState save() const;
  // Reapplies a snapshot; re-activates the device when the snapshot was taken after DRIVER_OK.
  // Throws Error when the state does not match this device.
  void restore(const TransportState& state);

 private:
  uint32_t read_register(uint64_t offset) const;
  void write_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  bool features_acceptable() const;
  void activate();
  void reset();
  Queue* selected_queue();
  bool queue_config_writable() const;

  std::shared_ptr<VirtioDevice> device_;
  const GuestMemory& memory_;
  MmioInterrupt interrupt_;
  EventLoop* loop_;
  std::vector<Queue> queues_;
  std::vector<EventFd> queue_events_;
  std::vector<EventRegistration> registrations_;
  std::function<void()> on_activated_;
  std::function<void()> on_reset_;

  // Guarded by device_->mutex().
  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint32_t queue_sel_ = 0;
  uint64_t driver_features_ = 0;
};

}  // namespace hearth::virtio::mmio
