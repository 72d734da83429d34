#include "virtio/mmio/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio::mmio {

void to_json(nlohmann::json& j, const TransportState& s) {
  j = nlohmann::json{{"device_type", s.device_type},
                     {"status", s.status},
                     {"device_features_sel", s.device_features_sel},
                     {"driver_features_sel", s.driver_features_sel},
                     {"queue_sel", s.queue_sel},
                     {"driver_features", s.driver_features},
                     {"interrupt_status", s.interrupt_status},
                     {"config_generation", s.config_generation},
                     {"needs_reset", s.needs_reset},
                     {"queues", s.queues}};
}

void from_json(const nlohmann::json& j, TransportState& s) {
  j.at("device_type").get_to(s.device_type);
  j.at("status").get_to(s.status);
  j.at("device_features_sel").get_to(s.device_features_sel);
  j.at("driver_features_sel").get_to(s.driver_features_sel);
  j.at("queue_sel").get_to(s.queue_sel);
  j.at("driver_features").get_to(s.driver_features);
  j.at("interrupt_status").get_to(s.interrupt_status);
  j.at("config_generation").get_to(s.config_generation);
  j.at("needs_reset").get_to(s.needs_reset);
  j.at("queues").get_to(s.queues);
}

}  // namespace hearth::virtio::mmio
