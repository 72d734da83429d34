#pragma once
// PUT /mmds/config and the config file's "mmds-config", as validated (api/mmds_json.h).
#include <string>
#include <vector>

namespace hearth {

struct MmdsConfigSpec {
  std::string version = "V1";  // "V1" | "V2"
  std::vector<std::string> network_interfaces;  // iface_ids of network-interfaces
  std::string ipv4_address = "169.254.169.254";
  bool imds_compat = false;  // text/plain whatever the guest's Accept header says
};

}  // namespace hearth
