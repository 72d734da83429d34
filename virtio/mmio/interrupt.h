#pragma once
// VirtioInterrupt for virtio-mmio: sets InterruptStatus bits and raises the device's IrqLine.
// Lock-free so vCPU threads can read/ack InterruptStatus while the VMM thread processes queues.
#include <atomic>
#include <cstdint>
#include <memory>

#include "devices/irq.h"
#include "virtio/interrupt.h"

namespace hearth::virtio::mmio {

class MmioInterrupt : public VirtioInterrupt {
 public:
  explicit MmioInterrupt(std::shared_ptr<IrqLine> line) : line_(std::move(line)) {}

  void signal_used_queue(uint16_t queue) override;
  void signal_config() override;
  void signal_needs_reset() override;

  uint32_t status() const { return status_.load(std::memory_order_acquire); }
  void ack(uint32_t bits) { status_.fetch_and(~bits, std::memory_order_acq_rel); }
  uint32_t config_generation() const { return generation_.load(std::memory_order_acquire); }
  bool needs_reset() const { return needs_reset_.load(std::memory_order_acquire); }

  // Driver reset: no pending bits, no NEEDS_RESET. The generation keeps counting.
  void reset();
  void restore(uint32_t status, uint32_t generation, bool needs_reset);

 private:
  void raise(uint32_t bits);

  std::shared_ptr<IrqLine> line_;
  std::atomic<uint32_t> status_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> needs_reset_{false};
};

}  // namespace hearth::virtio::mmio
