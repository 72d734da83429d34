#pragma once
// Test helper: plays the driver side of a split virtqueue in a GuestMemory.
#include <cstdint>

#include "virtio/queue/descriptor_chain.h"
#include "virtio/queue/queue.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio::test {

struct UsedElem {
  uint32_t id;
  uint32_t len;
};

class TestRing {
 public:
  TestRing(const GuestMemory& mem, uint16_t size, uint64_t desc = 0x1000, uint64_t avail = 0x3000,
           uint64_t used = 0x4000)
      : mem_(mem), size_(size), desc_(desc), avail_(avail), used_(used) {}

  uint16_t size() const { return size_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }

  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags = 0, uint16_t next = 0) {
    mem_.write_obj(desc_ + 16ull * index, VirtqDesc{addr, len, flags, next});
  }
  // Writes a descriptor into an arbitrary table (indirect tables).
  void set_table_desc(uint64_t table, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags = 0,
                      uint16_t next = 0) {
    mem_.write_obj(table + 16ull * index, VirtqDesc{addr, len, flags, next});
  }
  void push_avail(uint16_t head) {
    mem_.write_obj<uint16_t>(avail_ + 4 + 2ull * (avail_idx_ % size_), head);
    set_avail_idx(static_cast<uint16_t>(avail_idx_ + 1));
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    mem_.write_obj<uint16_t>(avail_ + 2, idx);
  }
  void set_avail_flags(uint16_t flags) { mem_.write_obj<uint16_t>(avail_, flags); }
  void set_used_event(uint16_t v) { mem_.write_obj<uint16_t>(avail_ + 4 + 2ull * size_, v); }
  uint16_t avail_event() const { return mem_.read_obj<uint16_t>(used_ + 4 + 8ull * size_); }
  uint16_t used_idx() const { return mem_.read_obj<uint16_t>(used_ + 2); }
  UsedElem used(uint16_t i) const { return mem_.read_obj<UsedElem>(used_ + 4 + 8ull * (i % size_)); }

  // A queue configured by "the driver" with these rings.
  Queue make_queue(uint16_t max_size = 256) const {
    Queue q(max_size);
    q.set_size(size_);
    q.set_desc_table(desc_);
    q.set_avail_ring(avail_);
    q.set_used_ring(used_);
    q.set_ready(true);
    return q;
  }

 private:
  const GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint16_t avail_idx_ = 0;
};

}  // namespace hearth::virtio::test
