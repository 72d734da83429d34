#pragma once
// MMDS bodies: PUT /mmds/config (and the config file's "mmds-config"), PUT and PATCH /mmds.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/config/mmds.h"
#include "vmm/config/vm_config.h"

namespace hearth::api {

// Firecracker's rules: network_interfaces required and non-empty, version V1|V2, ipv4_address a
// link-local 169.254.[1-254].x. Throws Error naming the field.
MmdsConfigSpec parse_mmds_config(const nlohmann::json& body, std::string_view context = "mmds-config");
nlohmann::json to_json(const MmdsConfigSpec& config);

// Every MMDS-enabled interface must be configured (`iface_ids`: those of network-interfaces).
void check_mmds_interfaces(const MmdsConfigSpec& config, std::span<const std::string> iface_ids,
                           std::string_view context);

// The iface_ids of the network-interfaces section.
std::vector<std::string> network_interface_ids(const VmConfig& config);

// The data store's body: a JSON object.
nlohmann::json parse_mmds_contents(std::string_view body, std::string_view context = "mmds");

// Dotted-quad IPv4 ("169.254.169.254"); false for anything else.
bool parse_ipv4(std::string_view text, uint8_t (&out)[4]);

}  // namespace hearth::api
