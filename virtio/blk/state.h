#pragma once
// Snapshot of a virtio-blk device (its queues live in the transport's state). Taken only after
// prepare_save() drained in-flight async I/O.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "virtio/rate_limiter/rate_limiter.h"
#include "vmm/config/vm_config.h"

namespace hearth::virtio::blk {

struct BlkState {
  std::string drive_id;
  std::string path_on_host;
  bool read_only = false;
  hearth::CacheType cache_type = hearth::CacheType::kUnsafe;
  hearth::IoEngine io_engine = hearth::IoEngine::kSync;
  uint64_t capacity_sectors = 0;
  uint64_t acked_features = 0;
  RateLimiterState rate_limiter;
  bool operator==(const BlkState&) const = default;
};

void to_json(nlohmann::json& j, const BlkState& s);
void from_json(const nlohmann::json& j, BlkState& s);

}  // namespace hearth::virtio::blk
