#pragma once
// A split virtqueue (spec 2.7) seen from the device: the driver places the rings, the device pops
// available chains and returns used ones. Everything read from the rings is validated.
#include <cstdint>
#include <optional>

#include "virtio/queue/descriptor_chain.h"
#include "virtio/queue/queue_error.h"
#include "virtio/queue/state.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio {

inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;

class Queue {
 public:
  // `max_size` must be a power of two in [1, 32768] (the device's QueueNumMax).
  explicit Queue(uint16_t max_size);

  // --- Driver-side configuration (set through the transport before DRIVER_OK). ---
  uint16_t max_size() const { return max_size_; }
  uint16_t size() const { return size_; }
  void set_size(uint16_t size) { size_ = size; }
  bool ready() const { return ready_; }
  void set_ready(bool ready) { ready_ = ready; }
  uint64_t desc_table() const { return desc_table_; }
  uint64_t avail_ring() const { return avail_ring_; }
  uint64_t used_ring() const { return used_ring_; }
  void set_desc_table(uint64_t addr) { desc_table_ = addr; }
  void set_avail_ring(uint64_t addr) { avail_ring_ = addr; }
  void set_used_ring(uint64_t addr) { used_ring_ = addr; }
  // Negotiated ring features.
  void set_event_idx(bool on) { event_idx_ = on; }
  void set_indirect(bool on) { indirect_ = on; }

  // Ready, size a power of two <= max, rings aligned and inside guest RAM.
  bool is_valid(const GuestMemory& mem) const;

  // --- Device side. A queue that returned an error stays broken until reset(). ---
  bool broken() const { return broken_; }

  // Number of chains the driver has made available and we have not popped yet.
  QueueResult<uint16_t> pending(const GuestMemory& mem);
  // Next available chain, nullopt when the ring is empty.
  QueueResult<std::optional<DescriptorChain>> pop(const GuestMemory& mem);
  // Gives back the chain just popped (device throttled), so the next pop returns it again.
  void undo_pop() { --next_avail_; }
  // With EVENT_IDX, asks the driver to notify once it adds past what we consumed. Returns true when
  // more chains arrived meanwhile (the caller keeps popping instead of sleeping).
  QueueResult<bool> enable_notification(const GuestMemory& mem);
  // Places (head, len) in the used ring and publishes the new used idx.
  std::optional<QueueError> add_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  // Whether the driver wants an interrupt for what was added since the last call that said yes.
  bool needs_notification(const GuestMemory& mem);

  QueueState save() const;
  void restore(const QueueState& state);
  // Back to the power-on state (driver reset): addresses 0, not ready, indices 0.
  void reset();

 private:
  QueueError fail(QueueError error) {
    broken_ = true;
    return error;
  }
  uint64_t used_event_addr() const { return avail_ring_ + 4 + 2 * uint64_t{size_}; }
  uint64_t avail_event_addr() const { return used_ring_ + 4 + 8 * uint64_t{size_}; }

  uint16_t max_size_;
  uint16_t size_;
  bool ready_ = false;
  uint64_t desc_table_ = 0;
  uint64_t avail_ring_ = 0;
  uint64_t used_ring_ = 0;
  bool event_idx_ = false;
  bool indirect_ = false;

  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  // Used idx at the last interrupt we decided to send (EVENT_IDX); invalid until the first one.
  uint16_t signalled_used_ = 0;
  bool signalled_used_valid_ = false;
  bool broken_ = false;
};

}  // namespace hearth::virtio
