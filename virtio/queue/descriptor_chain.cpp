#include "virtio/queue/descriptor_chain.h"

namespace hearth::virtio {
namespace {

class ChainWalker {
 public:
  ChainWalker(const GuestMemory& mem, const ChainLimits& limits) : mem_(mem), limits_(limits) {}

  QueueResult<DescriptorChain> walk(uint64_t desc_table, uint16_t head) {
    chain_.head = head;
    if (head >= limits_.queue_size) return QueueError::kDescIndexOutOfRange;
    uint64_t table = desc_table;
    uint32_t table_size = limits_.queue_size;
    bool in_indirect = false;
    uint32_t index = head;
    for (;;) {
      // Spec: a chain is never longer than the queue size, so a longer one is a loop.
      if (++count_ > limits_.queue_size) return QueueError::kChainTooLong;
      auto desc = mem_.try_read_obj<VirtqDesc>(table + index * kDescSize);
      if (!desc) return QueueError::kRingOutOfMemory;

      if (desc->flags & kDescFlagIndirect) {
        if (in_indirect) return QueueError::kIndirectNested;
        if (!limits_.indirect_allowed) return QueueError::kIndirectNotNegotiated;
        if (desc->flags & kDescFlagNext) return QueueError::kIndirectWithNext;
        if (desc->len == 0 || desc->len % kDescSize || desc->len / kDescSize > limits_.queue_size) {
          return QueueError::kIndirectBadLength;
        }
        if (!mem_.contains(desc->addr, desc->len)) return QueueError::kDescOutOfMemory;
        // The indirect descriptor itself is not a buffer; the table replaces the rest of the chain.
        --count_;
        table = desc->addr;
        table_size = desc->len / static_cast<uint32_t>(kDescSize);
        in_indirect = true;
        index = 0;
        continue;
      }

      if (auto err = add_buffer(*desc)) return *err;
      if (!(desc->flags & kDescFlagNext)) break;
      if (desc->next >= table_size) return QueueError::kDescIndexOutOfRange;
      index = desc->next;
    }
    return std::move(chain_);
  }

 private:
  std::optional<QueueError> add_buffer(const VirtqDesc& desc) {
    // contains() also rejects addr+len wrapping past 2^64.
    if (!mem_.contains(desc.addr, desc.len)) return QueueError::kDescOutOfMemory;
    const bool writable = desc.flags & kDescFlagWrite;
    if (!writable && !chain_.writable.empty()) return QueueError::kReadableAfterWritable;
    auto& list = writable ? chain_.writable : chain_.readable;
    auto& total = writable ? chain_.writable_len : chain_.readable_len;
    if (desc.len > UINT32_MAX - total) return QueueError::kChainTooBig;
    total += desc.len;
    list.push_back(GuestBuffer{desc.addr, desc.len});
    return std::nullopt;
  }

  const GuestMemory& mem_;
  const ChainLimits& limits_;
  DescriptorChain chain_;
  uint32_t count_ = 0;
};

}  // namespace

QueueResult<DescriptorChain> read_chain(const GuestMemory& mem, uint64_t desc_table, uint16_t head,
                                        const ChainLimits& limits) {
  return ChainWalker(mem, limits).walk(desc_table, head);
}

std::string_view to_string(QueueError error) {
  switch (error) {
    case QueueError::kNotReady: return "queue used before it is ready and valid";
    case QueueError::kAvailIdxJump: return "available index moved by more than the queue size";
    case QueueError::kRingOutOfMemory: return "ring element outside guest memory";
    case QueueError::kDescIndexOutOfRange: return "descriptor index out of range";
    case QueueError::kChainTooLong: return "descriptor chain longer than the queue (loop)";
    case QueueError::kDescOutOfMemory: return "descriptor buffer outside guest memory";
    case QueueError::kIndirectNotNegotiated: return "indirect descriptor without the feature";
    case QueueError::kIndirectBadLength: return "indirect table length invalid";
    case QueueError::kIndirectNested: return "nested indirect descriptor";
    case QueueError::kIndirectWithNext: return "indirect descriptor with NEXT flag";
    case QueueError::kReadableAfterWritable: return "readable descriptor after a writable one";
    case QueueError::kChainTooBig: return "descriptor chain larger than 4 GiB";
    case QueueError::kBadUsedHead: return "used element head out of range";
  }
  return "unknown queue error";
}

}  // namespace hearth::virtio
