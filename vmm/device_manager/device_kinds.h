#pragma once
// The registry of virtio device kinds beyond drives: one line per kind in device_kinds.cpp.
#include <span>

#include "virtio/device_kind.h"

namespace hearth {

std::span<const virtio::VirtioDeviceKind* const> virtio_device_kinds();

}  // namespace hearth
