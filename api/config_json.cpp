// The config file as a whole, and VmConfig -> JSON.
#include "api/config_json.h"

#include <fmt/format.h>

#include "api/cpu_config.h"
#include "api/mmds_json.h"
#include "vmm/config/json_reader.h"
#include "vmm/base/error.h"
#include "vmm/config/device_kind.h"

namespace hearth::api {

VmConfig parse_config_file(std::string_view json_text) {
  VmConfig c = parse_config(parse_json(json_text, "config file"));
  // Host checks (a TAP opens, a socket path is free) belong to loading a file, not to reading the
  // configuration a snapshot carries.
  for (const DeviceConfigKind* kind : device_config_kinds()) {
    const auto section = c.device_sections.find(std::string(kind->name));
    if (kind->check_host == nullptr || section == c.device_sections.end()) continue;
    if (!kind->multi_instance()) {
      kind->check_host(section->second, kind->name);
      continue;
    }
    for (size_t i = 0; i < section->second.size(); ++i) {
      kind->check_host(section->second[i], fmt::format("{}[{}]", kind->name, i));
    }
  }
  return c;
}

VmConfig parse_config(const nlohmann::json& root) {
  // Firecracker sections Hearth cannot run yet: their null and empty forms configure nothing and are
  // accepted (Firecracker's own files carry them); anything else gets a message naming the feature.
  static constexpr std::string_view kNotYet[] = {"network-interfaces", "pmem", "balloon", "vsock",
                                                 "memory-hotplug"};
  ObjectReader r(root, "config file",
                 {"boot-source", "machine-config", "drives", "logger", "metrics", "network-interfaces", "pmem",
                  "balloon", "vsock", "entropy", "mmds-config", "memory-hotplug", "cpu-config"});
  for (std::string_view key : kNotYet) {
    if (find_device_config_kind(key) != nullptr) continue;  // landed through the device registry
    const nlohmann::json* v = r.get(key);  // null reads as absent
    if (v == nullptr || (v->is_array() && v->empty())) continue;
    throw Error(fmt::format("{} is not supported yet", key));
  }

  VmConfig c;
  if (!r.has("boot-source")) throw Error("config file: missing required field 'boot-source'");
  c.boot_source = parse_boot_source(*r.get("boot-source"));
  if (const auto* m = r.get("machine-config")) c.machine = parse_machine_config(*m);
  if (const auto* drives = r.get("drives")) {
    if (!drives->is_array()) throw_type_error("drives", "an array", *drives);
    for (size_t i = 0; i < drives->size(); ++i) {
      std::string context = fmt::format("drives[{}]", i);
      DriveConfig d = parse_drive((*drives)[i], context);
      for (const DriveConfig& earlier : c.drives) {
        if (earlier.drive_id == d.drive_id) {
          throw Error(fmt::format("{}.drive_id: duplicate drive_id '{}'", context, d.drive_id));
        }
      }
      upsert_drive(c.drives, std::move(d), context);
    }
  }
  if (const auto* l = r.get("logger")) c.logger = parse_logger(*l);
  if (const auto* m = r.get("metrics")) c.metrics = parse_metrics(*m);
  // After machine-config, as in Firecracker: a custom template replaces a static one.
  if (const auto* t = r.get("cpu-config")) {
    c.cpu_config = parse_cpu_config_section(*t);
    c.machine.cpu_template = StaticCpuTemplate::kNone;
  }
  for (const DeviceConfigKind* kind : device_config_kinds()) {
    const auto* body = r.get(kind->name);
    if (body == nullptr) continue;
    if (!kind->multi_instance()) {
      c.device_sections[std::string(kind->name)] = kind->validate(*body, kind->name);
      continue;
    }
    if (!body->is_array()) throw_type_error(std::string(kind->name), "an array", *body);
    if (body->empty()) continue;  // Firecracker's files carry "network-interfaces": []
    nlohmann::json instances = nlohmann::json::array();
    for (size_t i = 0; i < body->size(); ++i) {
      const std::string context = fmt::format("{}[{}]", kind->name, i);
      nlohmann::json instance = kind->validate((*body)[i], context);
      const std::string id = device_instance_id(*kind, instance);
      if (find_device_instance(*kind, instances, id) != nullptr) {
        throw Error(fmt::format("{}.{}: duplicate {} '{}'", context, kind->id_field, kind->id_field, id));
      }
      instances = with_device_instance(*kind, &instances, instance, context);
    }
    c.device_sections[std::string(kind->name)] = std::move(instances);
  }
  // After network-interfaces: the interfaces it names must be there.
  if (const auto* m = r.get("mmds-config")) {
    c.mmds = parse_mmds_config(*m, "mmds-config");
    check_mmds_interfaces(*c.mmds, network_interface_ids(c), "mmds-config");
  }
  check_virtio_device_count(c, "config file");
  return c;
}

nlohmann::json to_json(const BootSourceConfig& boot) {
  nlohmann::json j = {{"kernel_image_path", boot.kernel_image_path}};
  // A Hearth extension appears only when set: Firecracker refuses unknown fields, so GET /vm/config of a
  // plain VM must stay a file Firecracker itself accepts.
  if (boot.boot_protocol != BootProtocol::kLinux64) j["boot_protocol"] = boot_protocol_name(boot.boot_protocol);
  if (boot.initrd_path) j["initrd_path"] = *boot.initrd_path;
  if (boot.boot_args) j["boot_args"] = *boot.boot_args;
  return j;
}

nlohmann::json to_json(const MachineConfig& machine) {
  nlohmann::json j = {{"vcpu_count", machine.vcpu_count},
          {"mem_size_mib", machine.mem_size_mib},
          {"smt", machine.smt},
          {"track_dirty_pages", machine.track_dirty_pages},
          {"huge_pages", huge_pages_name(machine.huge_pages)}};
  // Firecracker shows a static template only (a custom one is the "cpu-config" section).
  if (machine.cpu_template != StaticCpuTemplate::kNone) j["cpu_template"] = static_template_name(machine.cpu_template);
  return j;
}

nlohmann::json to_json(const DriveConfig& drive) {
  nlohmann::json j = {{"drive_id", drive.drive_id},
                      {"path_on_host", drive.path_on_host},
                      {"is_root_device", drive.is_root_device},
                      {"is_read_only", drive.is_read_only},
                      {"cache_type", drive.cache_type == CacheType::kWriteback ? "Writeback"
                                                                               : "Unsafe"},
                      {"io_engine", drive.io_engine == IoEngine::kAsync ? "Async" : "Sync"}};
  if (drive.partuuid) j["partuuid"] = *drive.partuuid;
  if (drive.rate_limiter) j["rate_limiter"] = to_json(*drive.rate_limiter);
  return j;
}

nlohmann::json to_json(const LoggerConfig& logger) {
  nlohmann::json j = {{"level", log_level_name(logger.level)},
                      {"show_level", logger.show_level},
                      {"show_log_origin", logger.show_log_origin}};
  if (logger.log_path) j["log_path"] = *logger.log_path;
  if (logger.module) j["module"] = *logger.module;
  return j;
}

nlohmann::json to_json(const MetricsConfig& metrics) {
  nlohmann::json j = {{"metrics_path", metrics.metrics_path}};
  if (metrics.emit_id) j["emit_id"] = true;
  if (!metrics.properties.empty()) j["properties"] = metrics.properties;
  return j;
}

nlohmann::json to_json(const VmConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  if (config.boot_source) j["boot-source"] = to_json(*config.boot_source);
  j["machine-config"] = to_json(config.machine);
  nlohmann::json drives = nlohmann::json::array();
  for (const DriveConfig& d : config.drives) drives.push_back(to_json(d));
  j["drives"] = std::move(drives);
  if (config.logger) j["logger"] = to_json(*config.logger);
  if (config.metrics) j["metrics"] = to_json(*config.metrics);
  if (config.cpu_config) j["cpu-config"] = to_json(*config.cpu_config);
  for (const auto& [name, section] : config.device_sections) j[name] = section;
  if (config.mmds) j["mmds-config"] = to_json(*config.mmds);
  return j;
}

}  // namespace hearth::api
