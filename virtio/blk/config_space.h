#pragma once
// struct virtio_blk_config (spec 5.2.4) as the guest reads it, up to write_zeroes_may_unmap.
#include <array>
#include <cstddef>
#include <cstdint>

namespace hearth::virtio::blk {

inline constexpr size_t kConfigSpaceSize = 60;

std::array<uint8_t, kConfigSpaceSize> make_config_space(uint64_t capacity_sectors);

}  // namespace hearth::virtio::blk
