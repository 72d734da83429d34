#pragma once
// The configuration side of the device-kind registry. A device kind beyond drives (entropy, later
// balloon and vsock) is one config-file section and one API resource of the same name; its body is
// validated once, here, with the same messages for the file and the API, and the validated JSON is
// what GET /vm/config shows and what the builder reads. The table itself is defined with the
// builders (vmm/device_manager/device_kinds.cpp); the API layer only sees this declaration.
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth {

struct DeviceConfigKind {
  std::string_view name;  // "entropy": config-file section "entropy", PUT /entropy
  // Validates `body`; returns it normalised (defaults filled in). Throws Error("<context>.<field>: ...").
  nlohmann::json (*validate)(const nlohmann::json& body, std::string_view context);
};

std::span<const DeviceConfigKind* const> device_config_kinds();
const DeviceConfigKind* find_device_config_kind(std::string_view name);

}  // namespace hearth
