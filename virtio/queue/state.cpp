#include "virtio/queue/state.h"

#include <nlohmann/json.hpp>

namespace hearth::virtio {

void to_json(nlohmann::json& j, const QueueState& s) {
  j = nlohmann::json{{"max_size", s.max_size},
                     {"size", s.size},
                     {"ready", s.ready},
                     {"desc_table", s.desc_table},
                     {"avail_ring", s.avail_ring},
                     {"used_ring", s.used_ring},
                     {"next_avail", s.next_avail},
                     {"next_used", s.next_used},
                     {"signalled_used", s.signalled_used},
                     {"signalled_used_valid", s.signalled_used_valid},
                     {"event_idx", s.event_idx},
                     {"indirect", s.indirect},
                     {"broken", s.broken}};
}

void from_json(const nlohmann::json& j, QueueState& s) {
  j.at("max_size").get_to(s.max_size);
  j.at("size").get_to(s.size);
  j.at("ready").get_to(s.ready);
  j.at("desc_table").get_to(s.desc_table);
  j.at("avail_ring").get_to(s.avail_ring);
  j.at("used_ring").get_to(s.used_ring);
  j.at("next_avail").get_to(s.next_avail);
  j.at("next_used").get_to(s.next_used);
  j.at("signalled_used").get_to(s.signalled_used);
  j.at("signalled_used_valid").get_to(s.signalled_used_valid);
  j.at("event_idx").get_to(s.event_idx);
  j.at("indirect").get_to(s.indirect);
  j.at("broken").get_to(s.broken);
}

}  // namespace hearth::virtio
