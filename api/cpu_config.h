#pragma once
// Firecracker's custom CPU template JSON (PUT /cpu-config, the config file's "cpu-config") <-> CustomCpuTemplate,
// and the static template names of machine-config.cpu_template.
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/config/cpu_template.h"

namespace hearth::api {

// Validates the whole body first; errors name the entry ("cpu-config.cpuid_modifiers[2].modifiers[0].bitmap: ...").
CustomCpuTemplate parse_cpu_config(const nlohmann::json& j, std::string_view context = "cpu-config");
// The config file's "cpu-config": the template object, or a string naming a JSON file holding one.
CustomCpuTemplate parse_cpu_config_section(const nlohmann::json& j, std::string_view context = "cpu-config");
// Firecracker's own form: hex leaf/subleaf/addr, full-width "0b..." bitmaps with x for bits left alone.
nlohmann::json to_json(const CustomCpuTemplate& t);

// machine-config.cpu_template: a name and a template for this host's CPU vendor, else Error naming `where`.
StaticCpuTemplate parse_static_template(const nlohmann::json& v, std::string_view where,
                                        CpuVendor host = host_cpu_vendor());

}  // namespace hearth::api
