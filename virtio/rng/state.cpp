#include "virtio/rng/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::rng {

void to_json(nlohmann::json& j, const RngState& s) {
  j = nlohmann::json{{"acked_features", s.acked_features}, {"rate_limiter", s.rate_limiter}};
}

void from_json(const nlohmann::json& j, RngState& s) {
  j.at("acked_features").get_to(s.acked_features);
  j.at("rate_limiter").get_to(s.rate_limiter);
}

}  // namespace hearth::virtio::rng
