#pragma once
// VmConfig <-> JSON in Firecracker's config-file schema. The per-section parsers are the same ones
// the REST API uses for PUT/PATCH bodies. Every function throws hearth::Error with a one-line
// message naming the field, e.g. "machine-config.vcpu_count: must be between 1 and 32, got 0".
// Parsing is pure: host paths are checked by check_host_paths (api/config_checks.h).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/config/limits.h"
#include "vmm/config/rate_limiter_json.h"
#include "vmm/config/vm_config.h"

namespace hearth::api {

// The whole config file (the --config-file of Firecracker). Requires "boot-source".
VmConfig parse_config_file(std::string_view json_text);
VmConfig parse_config(const nlohmann::json& root);

// Sections; `context` prefixes error messages ("boot-source" in the config file, the same for
// PUT /boot-source so the two paths report identically).
BootSourceConfig parse_boot_source(const nlohmann::json& j,
                                   std::string_view context = "boot-source");
MachineConfig parse_machine_config(const nlohmann::json& j,
                                   std::string_view context = "machine-config");
// PATCH /machine-config: only the fields present in `j` change; the result is re-validated.
struct MachineConfigPatch {
  std::optional<uint32_t> vcpu_count;
  std::optional<uint32_t> mem_size_mib;
  std::optional<bool> smt;
  std::optional<bool> track_dirty_pages;
  std::optional<StaticCpuTemplate> cpu_template;  // present, even as "None", replaces a custom template too
  std::optional<HugePages> huge_pages;
};
MachineConfigPatch parse_machine_config_patch(const nlohmann::json& j,
                                              std::string_view context = "machine-config");
// Applies `patch` and validates the merged result.
MachineConfig apply_machine_config_patch(MachineConfig current, const MachineConfigPatch& patch,
                                         std::string_view context = "machine-config");
MachineConfig patch_machine_config(const MachineConfig& current, const nlohmann::json& j,
                                   std::string_view context = "machine-config");
DriveConfig parse_drive(const nlohmann::json& j, std::string_view context = "drive");
// PATCH /drives/{id}: drive_id (required, must match), path_on_host, rate_limiter.
struct DrivePatch {
  std::string drive_id;
  std::optional<std::string> path_on_host;
  std::optional<RateLimiterConfig> rate_limiter;
};
DrivePatch parse_drive_patch(const nlohmann::json& j, std::string_view context = "drive");
LoggerConfig parse_logger(const nlohmann::json& j, std::string_view context = "logger");
MetricsConfig parse_metrics(const nlohmann::json& j, std::string_view context = "metrics");

// Semantic checks shared by the config file and the API (both throw Error):
// vcpu_count range and SMT parity.
void validate_machine_config(const MachineConfig& m, std::string_view context);
// drive_id: 1..64 characters of [A-Za-z0-9_], as Firecracker requires.
void validate_drive_id(std::string_view id, std::string_view where);
// Adds or replaces (same drive_id) `drive` in `drives`, rejecting a second root device.
void upsert_drive(std::vector<DriveConfig>& drives, DriveConfig drive, std::string_view context);

// Log level names: Firecracker accepts them case-insensitively; we print the canonical spelling.
std::optional<LogLevel> parse_log_level(std::string_view name);
std::string_view log_level_name(LogLevel level);
std::string_view boot_protocol_name(BootProtocol protocol);
std::string_view huge_pages_name(HugePages pages);

// Exactly the config-file schema: parse_config(to_json(c)) reproduces c.
nlohmann::json to_json(const VmConfig& config);
nlohmann::json to_json(const BootSourceConfig& boot);
nlohmann::json to_json(const MachineConfig& machine);
nlohmann::json to_json(const DriveConfig& drive);
nlohmann::json to_json(const LoggerConfig& logger);
nlohmann::json to_json(const MetricsConfig& metrics);

}  // namespace hearth::api
