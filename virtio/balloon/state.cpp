#include "virtio/balloon/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::balloon {

void to_json(nlohmann::json& j, const BalloonState& s) {
  j = nlohmann::json{{"acked_features", s.acked_features},
                     {"num_pages", s.num_pages},
                     {"actual", s.actual},
                     {"stats_polling_interval_s", s.stats_polling_interval_s}};
  j["stats_head"] = s.stats_head ? nlohmann::json(*s.stats_head) : nlohmann::json(nullptr);
  nlohmann::json stats = nlohmann::json::object();
  for (uint16_t tag = 0; tag < kStatTagCount; ++tag) {
    if (s.stats.values[tag]) stats[std::to_string(tag)] = *s.stats.values[tag];
  }
  j["stats"] = stats;
}

void from_json(const nlohmann::json& j, BalloonState& s) {
  j.at("acked_features").get_to(s.acked_features);
  j.at("num_pages").get_to(s.num_pages);
  j.at("actual").get_to(s.actual);
  j.at("stats_polling_interval_s").get_to(s.stats_polling_interval_s);
  const auto& head = j.at("stats_head");
  s.stats_head = head.is_null() ? std::nullopt : std::optional<uint16_t>(head.get<uint16_t>());
  s.stats = {};
  for (const auto& [key, value] : j.at("stats").items()) {
    const unsigned long tag = std::stoul(key);
    if (tag < kStatTagCount) s.stats.values[tag] = value.get<uint64_t>();
  }
}

}  // namespace hearth::virtio::balloon
