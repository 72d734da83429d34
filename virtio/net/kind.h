#pragma once
// The "network-interfaces" device kind: PUT /network-interfaces/{iface_id}, the config file's array,
// PATCH of the rate limiters after boot, and the builder.
#include <string_view>

#include <nlohmann/json.hpp>

#include "virtio/device_kind.h"
#include "virtio/net/config.h"

namespace hearth::virtio::net {

const VirtioDeviceKind& network_interfaces_kind();

// Exposed for the unit tests. Throw Error("<context>.<field>: ...").
NetConfig parse_net_config(const nlohmann::json& body, std::string_view context);
nlohmann::json validate_net(const nlohmann::json& body, std::string_view context);
void validate_net_instances(const nlohmann::json& instances, std::string_view context);
void check_net_host(const nlohmann::json& body, std::string_view context);
nlohmann::json validate_net_patch(std::string_view sub, const nlohmann::json& body, std::string_view context);
nlohmann::json apply_net_patch(const nlohmann::json& body, std::string_view sub, const nlohmann::json& patch);

}  // namespace hearth::virtio::net
