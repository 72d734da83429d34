#pragma once
// VIRTIO_F_EVENT_IDX arithmetic (spec 2.7.10), kept alone so it can be tested at the edges.
#include <cstdint>

namespace hearth::virtio {

// True when moving the used index from `old_idx` to `new_idx` crossed `event_idx`, i.e. the driver
// asked to be notified at some index in (old_idx, new_idx]. Safe across 16-bit wrap-around.
constexpr bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace hearth::virtio
