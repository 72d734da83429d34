#pragma once
// What the transport needs from a virtio device. A device knows nothing of the transport: it gets
// guest memory, its queues and an interrupt handle at activation, and is told when a queue is kicked.
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "virtio/interrupt.h"
#include "virtio/queue/queue.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio {

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_type() const = 0;
  // Feature bits offered to the driver, including VIRTIO_F_VERSION_1.
  virtual uint64_t avail_features() const = 0;
  // QueueNumMax of each queue; its length is the number of queues.
  virtual std::vector<uint16_t> queue_max_sizes() const = 0;

  // Device configuration space; bytes past its end read as 0 and ignore writes.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

  // DRIVER_OK: the queues are valid and stay owned by the transport; the device keeps the span,
  // `memory` and `interrupt` until reset(). Throws Error if the device cannot start.
  virtual void activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                        uint64_t acked_features) = 0;
  virtual bool activated() const = 0;
  // Driver reset: drop the queues (after in-flight I/O finished) and return to the pre-activation state.
  virtual void reset() = 0;
  // The driver kicked queue `index` (VMM thread). Queue errors are reported via signal_needs_reset().
  virtual void process_queue(uint16_t index) = 0;

  // Serialises the transport (vCPU threads) with the device's own event-loop handlers.
  std::mutex& mutex() const { return mutex_; }

 private:
  mutable std::mutex mutex_;
};

}  // namespace hearth::virtio
