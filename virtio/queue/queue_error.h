#pragma once
// Ways a driver can break a split virtqueue. The device stops using the queue and the transport
// reports DEVICE_NEEDS_RESET; none of these ever reaches the VMM as an exception.
#include <cstdint>
#include <string_view>
#include <variant>

namespace hearth::virtio {

enum class QueueError : uint8_t {
  kNotReady,               // used before the driver made it ready and valid
  kAvailIdxJump,           // avail idx moved by more than the queue size
  kRingOutOfMemory,        // a ring element lies outside guest RAM
  kDescIndexOutOfRange,    // head or next index >= table size
  kChainTooLong,           // more descriptors than the queue size: a loop
  kDescOutOfMemory,        // addr+len overflows or leaves guest RAM
  kIndirectNotNegotiated,  // INDIRECT flag without VIRTIO_F_INDIRECT_DESC
  kIndirectBadLength,      // table length 0, not a multiple of 16, or too large
  kIndirectNested,         // INDIRECT inside an indirect table
  kIndirectWithNext,       // INDIRECT together with NEXT
  kReadableAfterWritable,  // device-readable descriptor after a device-writable one
  kChainTooBig,            // total length of one direction exceeds 4 GiB - 1
  kBadUsedHead,            // device returned a head index outside the table
};

std::string_view to_string(QueueError error);

// Either a value or the error that broke the queue.
template <typename T>
using QueueResult = std::variant<T, QueueError>;

}  // namespace hearth::virtio
