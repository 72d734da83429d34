#include "virtio/mmio/interrupt.h"

#include "virtio/virtio_defs.h"

namespace hearth::virtio::mmio {

void MmioInterrupt::raise(uint32_t bits) {
  status_.fetch_or(bits, std::memory_order_acq_rel);
  if (line_) line_->trigger();
}

void MmioInterrupt::signal_used_queue(uint16_t) { raise(kInterruptUsedRing); }

void MmioInterrupt::signal_config() {
  // Bump first so a driver woken by the interrupt already sees the new generation.
  generation_.fetch_add(1, std::memory_order_acq_rel);
  raise(kInterruptConfigChange);
}

void MmioInterrupt::signal_needs_reset() {
  needs_reset_.store(true, std::memory_order_release);
  raise(kInterruptConfigChange);
}

void MmioInterrupt::reset() {
  status_.store(0, std::memory_order_release);
  needs_reset_.store(false, std::memory_order_release);
}

void MmioInterrupt::restore(uint32_t status, uint32_t generation, bool needs_reset) {
  status_.store(status, std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  needs_reset_.store(needs_reset, std::memory_order_release);
}

}  // namespace hearth::virtio::mmio
