#include "virtio/blk/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::blk {

void to_json(nlohmann::json& j, const BlkState& s) {
  j = nlohmann::json{{"drive_id", s.drive_id},
                     {"path_on_host", s.path_on_host},
                     {"read_only", s.read_only},
                     {"cache_type", s.cache_type == CacheType::kWriteback ? "Writeback" : "Unsafe"},
                     {"io_engine", s.io_engine == hearth::IoEngine::kAsync ? "Async" : "Sync"},
                     {"capacity_sectors", s.capacity_sectors},
                     {"acked_features", s.acked_features},
                     {"rate_limiter", s.rate_limiter}};
}

void from_json(const nlohmann::json& j, BlkState& s) {
  j.at("drive_id").get_to(s.drive_id);
  j.at("path_on_host").get_to(s.path_on_host);
  j.at("read_only").get_to(s.read_only);
  s.cache_type = j.at("cache_type").get<std::string>() == "Writeback" ? CacheType::kWriteback : CacheType::kUnsafe;
  s.io_engine = j.at("io_engine").get<std::string>() == "Async" ? hearth::IoEngine::kAsync : hearth::IoEngine::kSync;
  j.at("capacity_sectors").get_to(s.capacity_sectors);
  j.at("acked_features").get_to(s.acked_features);
  j.at("rate_limiter").get_to(s.rate_limiter);
}

}  // namespace hearth::virtio::blk
