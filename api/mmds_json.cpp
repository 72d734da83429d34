#include "api/mmds_json.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth::api {

bool parse_ipv4(std::string_view text, uint8_t (&out)[4]) {
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
    // One to three digits, no sign, no leading zero (as Rust's Ipv4Addr parser).
    const char* start = p;
    while (p != end && *p >= '0' && *p <= '9' && p - start < 4) ++p;
    if (p == start || p - start > 3 || (p - start > 1 && *start == '0')) return false;
    unsigned value = 0;
    std::from_chars(start, p, value);
    if (value > 255) return false;
    out[i] = uint8_t(value);
  }
  return p == end;
}

MmdsConfigSpec parse_mmds_config(const nlohmann::json& body, std::string_view context) {
  ObjectReader r(body, std::string(context), {"version", "network_interfaces", "ipv4_address", "imds_compat"});
  MmdsConfigSpec config;
  if (auto v = r.opt_string("version")) {
    if (*v != "V1" && *v != "V2") r.fail("version", fmt::format("expected \"V1\" or \"V2\", got \"{}\"", *v));
    config.version = *v;
  }
  const nlohmann::json& ifaces = r.required("network_interfaces");
  if (!ifaces.is_array()) throw_type_error(r.path("network_interfaces"), "an array of strings", ifaces);
  for (size_t i = 0; i < ifaces.size(); ++i) {
    const auto& id = ifaces[i];
    if (!id.is_string()) throw_type_error(fmt::format("{}[{}]", r.path("network_interfaces"), i), "a string", id);
    const std::string s = id.get<std::string>();
    if (std::find(config.network_interfaces.begin(), config.network_interfaces.end(), s) == config.network_interfaces.end())
      config.network_interfaces.push_back(s);
  }
  if (config.network_interfaces.empty())
    r.fail("network_interfaces",
           "The list of network interface IDs that allow forwarding MMDS requests is empty.");
  if (auto ip = r.opt_string("ipv4_address")) {
    uint8_t octets[4];
    if (!parse_ipv4(*ip, octets)) r.fail("ipv4_address", fmt::format("'{}' is not an IPv4 address", *ip));
    // Firecracker's link-local check: 169.254.0.x and 169.254.255.x are reserved.
    if (octets[0] != 169 || octets[1] != 254 || octets[2] == 0 || octets[2] == 255)
      r.fail("ipv4_address", "The MMDS IPv4 address is not link local.");
    config.ipv4_address = fmt::format("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
  }
  if (auto compat = r.opt_boolean("imds_compat")) config.imds_compat = *compat;
  return config;
}

nlohmann::json to_json(const MmdsConfigSpec& config) {
  return {{"version", config.version},
          {"network_interfaces", config.network_interfaces},
          {"ipv4_address", config.ipv4_address},
          {"imds_compat", config.imds_compat}};
}

void check_mmds_interfaces(const MmdsConfigSpec& config, std::span<const std::string> iface_ids,
                           std::string_view context) {
  for (const std::string& id : config.network_interfaces) {
    if (std::find(iface_ids.begin(), iface_ids.end(), id) == iface_ids.end())
      throw Error(fmt::format("{}.network_interfaces: no network interface with iface_id '{}' (PUT "
                              "/network-interfaces/{} first)",
                              context, id, id));
  }
}

std::vector<std::string> network_interface_ids(const VmConfig& config) {
  std::vector<std::string> ids;
  const auto section = config.device_sections.find("network-interfaces");
  if (section == config.device_sections.end() || !section->second.is_array()) return ids;
  for (const auto& body : section->second) {
    if (body.is_object() && body.contains("iface_id") && body["iface_id"].is_string())
      ids.push_back(body["iface_id"].get<std::string>());
  }
  return ids;
}

nlohmann::json parse_mmds_contents(std::string_view body, std::string_view context) {
  nlohmann::json value = parse_json(body, context);
  if (!value.is_object()) throw_type_error(context, "an object", value);
  return value;
}

}  // namespace hearth::api
