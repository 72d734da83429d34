#pragma once
// The configuration side of the device-kind registry. A device kind beyond drives (entropy, balloon,
// vsock, network interfaces) is one config-file section and one API resource of the same name; its body
// is validated once, here, with the same messages for the file and the API, and the validated JSON is
// what GET /vm/config shows and what the builder reads. The table itself is defined with the builders
// (vmm/device_manager/device_kinds.cpp); the API layer only sees this declaration.
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth {

struct DeviceConfigKind {
  std::string_view name;  // "entropy": config-file section "entropy", PUT /entropy
  // Validates `body`; returns it normalised (defaults filled in). Throws Error("<context>.<field>: ...").
  nlohmann::json (*validate)(const nlohmann::json& body, std::string_view context);

  // Multi-instance kinds ("network-interfaces"): the section is an array of bodies, the API path is
  // /<name>/<id>, and `id_field` names the body's id ("iface_id"). Empty for a single instance.
  std::string_view id_field{};
  // Checks across all instances once one is added or replaced (duplicate MAC, ...); throws Error naming
  // the field. `instances` is the whole array. May be null.
  void (*validate_instances)(const nlohmann::json& instances, std::string_view context) = nullptr;
  // Checks that need the host (a TAP opens, a socket path is free), at PUT time and when a config file is
  // loaded, not on snapshot restore. `body` is one instance. May be null.
  void (*check_host)(const nlohmann::json& body, std::string_view context) = nullptr;

  // Sub-resources served with PATCH and GET: "" is the resource itself, "statistics" is /<name>/statistics.
  std::span<const std::string_view> patch_paths{};
  std::span<const std::string_view> get_paths{};
  // Validates a PATCH body for sub-resource `sub`; returns it normalised. Needed when patch_paths is set.
  nlohmann::json (*validate_patch)(std::string_view sub, const nlohmann::json& body, std::string_view context) = nullptr;
  // The instance's section after a PATCH, so GET /vm/config stays true; null when patches change no
  // configuration. Throws Error for a patch the section refuses.
  nlohmann::json (*apply_patch)(const nlohmann::json& body, std::string_view sub, const nlohmann::json& patch) = nullptr;
  // PATCH before boot only changes the section (apply_patch); false answers 400 before boot.
  bool patch_before_boot = false;

  bool multi_instance() const { return !id_field.empty(); }
};

std::span<const DeviceConfigKind* const> device_config_kinds();
const DeviceConfigKind* find_device_config_kind(std::string_view name);

// Instance helpers over a VmConfig section (an array for multi-instance kinds, the body otherwise).
// The id of `body` for a multi-instance kind; empty for a single-instance one.
std::string device_instance_id(const DeviceConfigKind& kind, const nlohmann::json& body);
// The instance with `id` in `section`, or null.
const nlohmann::json* find_device_instance(const DeviceConfigKind& kind, const nlohmann::json& section,
                                           std::string_view id);
// `section` with `body` added or replacing the instance of the same id (for a single-instance kind the
// result is `body`). Runs validate_instances on the result.
nlohmann::json with_device_instance(const DeviceConfigKind& kind, const nlohmann::json* section,
                                    const nlohmann::json& body, std::string_view context);
// Number of devices a section builds (array length or 1).
size_t device_instance_count(const DeviceConfigKind& kind, const nlohmann::json& section);

}  // namespace hearth
