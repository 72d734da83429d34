#include "vmm/config/device_kind.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth {

std::string device_instance_id(const DeviceConfigKind& kind, const nlohmann::json& body) {
  if (!kind.multi_instance()) return {};
  const auto it = body.find(std::string(kind.id_field));
  if (it == body.end() || !it->is_string()) {
    throw Error(fmt::format("{}: the body has no string field {}", kind.name, kind.id_field));
  }
  return it->get<std::string>();
}

const nlohmann::json* find_device_instance(const DeviceConfigKind& kind, const nlohmann::json& section,
                                           std::string_view id) {
  if (!kind.multi_instance()) return &section;
  if (!section.is_array()) return nullptr;
  for (const auto& body : section) {
    if (device_instance_id(kind, body) == id) return &body;
  }
  return nullptr;
}

nlohmann::json with_device_instance(const DeviceConfigKind& kind, const nlohmann::json* section,
                                    const nlohmann::json& body, std::string_view context) {
  nlohmann::json result = body;
  if (kind.multi_instance()) {
    result = section != nullptr && section->is_array() ? *section : nlohmann::json::array();
    const std::string id = device_instance_id(kind, body);
    bool replaced = false;
    for (auto& existing : result) {
      if (device_instance_id(kind, existing) == id) {
        existing = body;
        replaced = true;
      }
    }
    if (!replaced) result.push_back(body);
  }
  if (kind.validate_instances != nullptr) kind.validate_instances(result, context);
  return result;
}

size_t device_instance_count(const DeviceConfigKind& kind, const nlohmann::json& section) {
  return kind.multi_instance() ? section.size() : 1;
}

}  // namespace hearth
