#pragma once
// The registry of configurable device kinds beyond drives: one entry per kind names its config-file
// section and API path, parses and validates its JSON (same messages for the file and the API),
// and renders it for GET /vm/config. The config file, the router and the pre-boot controller loop
// over this table, so a new device kind is one entry here.
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/config/vm_config.h"

namespace hearth::api {

struct DeviceSection {
  std::string_view name;  // config-file section and API resource ("entropy" -> PUT /entropy)
  // Validates `body` and stores it in `config`; throws Error naming the field (under `context`).
  std::function<void(const nlohmann::json& body, std::string_view context, VmConfig& config)> parse;
  // The section as GET /vm/config shows it, or nullopt when it is not configured.
  std::function<std::optional<nlohmann::json>(const VmConfig& config)> render;
};

std::span<const DeviceSection> device_sections();
const DeviceSection* find_device_section(std::string_view name);

}  // namespace hearth::api
