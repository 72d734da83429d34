#pragma once
// How a device tells the driver something happened; the transport maps it onto its own registers
// (virtio-mmio: InterruptStatus bits plus one IrqLine).
#include <cstdint>

namespace hearth::virtio {

class VirtioInterrupt {
 public:
  virtual ~VirtioInterrupt() = default;
  // New entries in the used ring of `queue`.
  virtual void signal_used_queue(uint16_t queue) = 0;
  // The device configuration space changed (e.g. new capacity).
  virtual void signal_config() = 0;
  // The driver broke a queue or the device failed: sets DEVICE_NEEDS_RESET and signals config.
  virtual void signal_needs_reset() = 0;
};

}  // namespace hearth::virtio
