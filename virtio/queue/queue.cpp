#include "virtio/queue/queue.h"

#include <atomic>
#include <bit>

#include "virtio/queue/event_idx.h"
#include "virtio/queue/ring_access.h"

namespace hearth::virtio {
namespace {

struct UsedElem {
  uint32_t id;
  uint32_t len;
};

// Ring sizes in bytes (spec 2.7): flags + idx + ring[size] + the event-idx word.
uint64_t avail_ring_bytes(uint16_t size) { return 6 + 2 * uint64_t{size}; }
uint64_t used_ring_bytes(uint16_t size) { return 6 + 8 * uint64_t{size}; }

}  // namespace

Queue::Queue(uint16_t max_size) : max_size_(max_size), size_(max_size) {}

bool Queue::is_valid(const GuestMemory& mem) const {
  if (!ready_) return false;
  if (size_ == 0 || size_ > max_size_ || !std::has_single_bit(size_)) return false;
  if (desc_table_ % 16 || avail_ring_ % 2 || used_ring_ % 4) return false;
  return mem.contains(desc_table_, kDescSize * size_) && mem.contains(avail_ring_, avail_ring_bytes(size_)) &&
         mem.contains(used_ring_, used_ring_bytes(size_));
}

QueueResult<uint16_t> Queue::pending(const GuestMemory& mem) {
  if (broken_ || !ready_ || size_ == 0) return QueueError::kNotReady;
  auto avail_idx = load_acquire<uint16_t>(mem, avail_ring_ + 2);
  if (!avail_idx) return fail(QueueError::kRingOutOfMemory);
  const uint16_t count = static_cast<uint16_t>(*avail_idx - next_avail_);
  if (count > size_) return fail(QueueError::kAvailIdxJump);
  return count;
}

QueueResult<std::optional<DescriptorChain>> Queue::pop(const GuestMemory& mem) {
  auto count = pending(mem);
  if (auto* err = std::get_if<QueueError>(&count)) return *err;
  if (std::get<uint16_t>(count) == 0) return std::optional<DescriptorChain>{};

  // The acquire load of avail idx in pending() orders this read after the driver's ring write.
  auto head = mem.try_read_obj<uint16_t>(avail_ring_ + 4 + 2 * uint64_t{static_cast<uint16_t>(next_avail_ % size_)});
  if (!head) return fail(QueueError::kRingOutOfMemory);
  auto chain = read_chain(mem, desc_table_, *head, ChainLimits{size_, indirect_});
  if (auto* err = std::get_if<QueueError>(&chain)) return fail(*err);
  ++next_avail_;
  return std::optional<DescriptorChain>(std::move(std::get<DescriptorChain>(chain)));
}

QueueResult<bool> Queue::enable_notification(const GuestMemory& mem) {
  if (event_idx_ && ready_ && !broken_) {
    if (!store_release<uint16_t>(mem, avail_event_addr(), next_avail_)) return fail(QueueError::kRingOutOfMemory);
  }
  // Our avail_event store must be visible before we re-read avail idx, or we could both sleep.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto count = pending(mem);
  if (auto* err = std::get_if<QueueError>(&count)) return *err;
  return std::get<uint16_t>(count) > 0;
}

std::optional<QueueError> Queue::add_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  if (broken_ || !ready_ || size_ == 0) return QueueError::kNotReady;
  if (head >= size_) return fail(QueueError::kBadUsedHead);
  const uint64_t elem_addr = used_ring_ + 4 + 8 * uint64_t{static_cast<uint16_t>(next_used_ % size_)};
  if (!mem.try_write_obj(elem_addr, UsedElem{head, len})) return fail(QueueError::kRingOutOfMemory);
  ++next_used_;
  // Release: the element (and the buffers the device filled) before the index the driver polls.
  if (!store_release<uint16_t>(mem, used_ring_ + 2, next_used_)) return fail(QueueError::kRingOutOfMemory);
  return std::nullopt;
}

bool Queue::needs_notification(const GuestMemory& mem) {
  // Our used idx store must be visible before we read the driver's suppression state.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    auto flags = mem.try_read_obj<uint16_t>(avail_ring_);
    return !flags || !(*flags & kAvailFlagNoInterrupt);  // unreadable: err on the side of notifying
  }
  const uint16_t old_idx = signalled_used_;
  const bool valid = signalled_used_valid_;
  signalled_used_ = next_used_;
  signalled_used_valid_ = true;
  auto used_event = load_acquire<uint16_t>(mem, used_event_addr());
  if (!valid || !used_event) return true;
  return vring_need_event(*used_event, next_used_, old_idx);
}

QueueState Queue::save() const {
  return QueueState{max_size_,   size_,          ready_,          desc_table_,           avail_ring_,
                    used_ring_,  next_avail_,    next_used_,      signalled_used_,       signalled_used_valid_,
                    event_idx_,  indirect_,      broken_};
}

void Queue::restore(const QueueState& s) {
  max_size_ = s.max_size;
  size_ = s.size;
  ready_ = s.ready;
  desc_table_ = s.desc_table;
  avail_ring_ = s.avail_ring;
  used_ring_ = s.used_ring;
  next_avail_ = s.next_avail;
  next_used_ = s.next_used;
  signalled_used_ = s.signalled_used;
  signalled_used_valid_ = s.signalled_used_valid;
  event_idx_ = s.event_idx;
  indirect_ = s.indirect;
  broken_ = s.broken;
}

void Queue::reset() {
  const uint16_t max = max_size_;
  *this = Queue(max);
}

}  // namespace hearth::virtio
