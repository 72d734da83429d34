// Per-section parsers, shared by the config file and the REST bodies.
#include <algorithm>
#include <cctype>
#include <limits>

#include <fmt/format.h>

#include "api/config_json.h"
#include "api/cpu_config.h"
#include "vmm/config/json_reader.h"
#include "vmm/base/error.h"

namespace hearth::api {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr size_t kMaxIdLength = 64;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <typename T>
T parse_enum(const ObjectReader& r, std::string_view key, T fallback,
             std::initializer_list<std::pair<std::string_view, T>> names) {
  auto s = r.opt_string(key);
  if (!s) return fallback;
  for (const auto& [name, value] : names) {
    if (*s == name) return value;
  }
  std::string allowed;
  for (const auto& [name, value] : names) {
    allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : ", ", name);
  }
  r.fail(key, fmt::format("must be one of {}, got \"{}\"", allowed, *s));
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"Error", LogLevel::kError}, {"Warning", LogLevel::kWarning}, {"Warn", LogLevel::kWarning},
      {"Info", LogLevel::kInfo},   {"Debug", LogLevel::kDebug},     {"Trace", LogLevel::kTrace},
      {"Off", LogLevel::kOff}};
  for (const auto& [n, level] : kNames) {
    if (iequals(n, name)) return level;
  }
  return std::nullopt;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "Error";
    case LogLevel::kWarning: return "Warning";
    case LogLevel::kInfo: return "Info";
    case LogLevel::kDebug: return "Debug";
    case LogLevel::kTrace: return "Trace";
    case LogLevel::kOff: return "Off";
  }
  return "Info";
}

std::string_view boot_protocol_name(BootProtocol protocol) {
  return protocol == BootProtocol::kPvh ? "pvh" : "linux";
}

std::string_view huge_pages_name(HugePages pages) {
  switch (pages) {
    case HugePages::kNone: return "None";
    case HugePages::kTransparent: return "Transparent";
    case HugePages::k2M: return "2M";
  }
  return "None";
}

BootSourceConfig parse_boot_source(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context),
                 {"kernel_image_path", "initrd_path", "boot_args", "boot_protocol"});
  BootSourceConfig b;
  b.kernel_image_path = r.nonempty_string("kernel_image_path");
  b.initrd_path = r.opt_nonempty_string("initrd_path");
  b.boot_args = r.opt_string("boot_args");
  b.boot_protocol = parse_enum(r, "boot_protocol", BootProtocol::kLinux64,
                               {{"linux", BootProtocol::kLinux64}, {"pvh", BootProtocol::kPvh}});
  return b;
}

void validate_machine_config(const MachineConfig& m, std::string_view context) {
  if (m.vcpu_count < 1 || m.vcpu_count > kMaxVcpus) {
    throw Error(fmt::format("{}.vcpu_count: must be between 1 and {}, got {}", context,
                            kMaxVcpus, m.vcpu_count));
  }
  if (m.mem_size_mib < kMinMemSizeMib) {
    throw Error(fmt::format("{}.mem_size_mib: must be at least {}, got {}", context, kMinMemSizeMib, m.mem_size_mib));
  }
  // Huge pages back guest RAM in whole 2 MiB pages (Firecracker's rule for "Transparent" and "2M").
  if (m.huge_pages != HugePages::kNone && m.mem_size_mib % 2 != 0) {
    throw Error(fmt::format("{}.mem_size_mib: must be a multiple of 2 with huge_pages \"{}\", got {}", context,
                            huge_pages_name(m.huge_pages), m.mem_size_mib));
  }
  // Sibling hyper-threads come in pairs.
  if (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2 != 0) {
    throw Error(fmt::format("{}.vcpu_count: must be 1 or even when smt is enabled, got {}",
                            context, m.vcpu_count));
  }
}

namespace {

ObjectReader machine_reader(const nlohmann::json& j, std::string_view context) {
  return ObjectReader(j, std::string(context),
                      {"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "cpu_template",
                       "huge_pages"});
}

MachineConfigPatch read_machine_fields(const ObjectReader& r) {
  MachineConfigPatch p;
  if (const auto* t = r.get("cpu_template")) p.cpu_template = parse_static_template(*t, r.path("cpu_template"));
  if (auto v = r.opt_unsigned_int("vcpu_count", 1, kMaxVcpus)) p.vcpu_count = uint32_t(*v);
  if (auto v = r.opt_unsigned_int("mem_size_mib", kMinMemSizeMib, std::numeric_limits<uint32_t>::max())) {
    p.mem_size_mib = uint32_t(*v);
  }
  p.smt = r.opt_boolean("smt");
  p.track_dirty_pages = r.opt_boolean("track_dirty_pages");
  if (r.has("huge_pages")) {
    p.huge_pages = parse_enum(r, "huge_pages", HugePages::kNone,
                              {{"None", HugePages::kNone}, {"Transparent", HugePages::kTransparent}, {"2M", HugePages::k2M}});
  }
  return p;
}

}  // namespace

MachineConfig parse_machine_config(const nlohmann::json& j, std::string_view context) {
  ObjectReader r = machine_reader(j, context);
  r.required("vcpu_count");
  r.required("mem_size_mib");
  return apply_machine_config_patch(MachineConfig{}, read_machine_fields(r), context);
}

MachineConfigPatch parse_machine_config_patch(const nlohmann::json& j, std::string_view context) {
  ObjectReader r = machine_reader(j, context);
  return read_machine_fields(r);
}

MachineConfig apply_machine_config_patch(MachineConfig m, const MachineConfigPatch& p,
                                         std::string_view context) {
  if (p.vcpu_count) m.vcpu_count = *p.vcpu_count;
  if (p.mem_size_mib) m.mem_size_mib = *p.mem_size_mib;
  if (p.smt) m.smt = *p.smt;
  if (p.track_dirty_pages) m.track_dirty_pages = *p.track_dirty_pages;
  if (p.huge_pages) m.huge_pages = *p.huge_pages;
  if (p.cpu_template) m.cpu_template = *p.cpu_template;
  validate_machine_config(m, context);
  return m;
}

MachineConfig patch_machine_config(const MachineConfig& current, const nlohmann::json& j,
                                   std::string_view context) {
  return apply_machine_config_patch(current, parse_machine_config_patch(j, context), context);
}

void validate_drive_id(std::string_view id, std::string_view where) {
  if (id.empty() || id.size() > kMaxIdLength) {
    throw Error(fmt::format("{}: must be 1 to {} characters long, got {}", where, kMaxIdLength,
                            id.size()));
  }
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      throw Error(fmt::format("{}: may contain only letters, digits and '_'", where));
    }
  }
}

DriveConfig parse_drive(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context),
                 {"drive_id", "path_on_host", "is_root_device", "partuuid", "is_read_only",
                  "cache_type", "io_engine", "rate_limiter"},
                 {{"socket", "vhost-user drives are not supported"}});
  DriveConfig d;
  d.drive_id = r.string("drive_id");
  validate_drive_id(d.drive_id, r.path("drive_id"));
  d.path_on_host = r.nonempty_string("path_on_host");
  d.is_root_device = r.boolean("is_root_device");
  d.partuuid = r.opt_nonempty_string("partuuid");
  d.is_read_only = r.opt_boolean("is_read_only").value_or(false);
  d.cache_type = parse_enum(r, "cache_type", CacheType::kUnsafe,
                            {{"Unsafe", CacheType::kUnsafe}, {"Writeback", CacheType::kWriteback}});
  d.io_engine = parse_enum(r, "io_engine", IoEngine::kSync,
                           {{"Sync", IoEngine::kSync}, {"Async", IoEngine::kAsync}});
  if (const auto* rl = r.get("rate_limiter")) {
    d.rate_limiter = parse_rate_limiter(*rl, r.path("rate_limiter"));
  }
  // Firecracker keeps a non-root drive's partuuid and ignores it; so do we (the boot line uses only the root's).
  return d;
}

DrivePatch parse_drive_patch(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context), {"drive_id", "path_on_host", "rate_limiter"});
  DrivePatch p;
  p.drive_id = r.string("drive_id");
  validate_drive_id(p.drive_id, r.path("drive_id"));
  p.path_on_host = r.opt_nonempty_string("path_on_host");
  if (const auto* rl = r.get("rate_limiter")) {
    p.rate_limiter = parse_rate_limiter(*rl, r.path("rate_limiter"));
  }
  return p;
}

void upsert_drive(std::vector<DriveConfig>& drives, DriveConfig drive, std::string_view context) {
  auto same = std::find_if(drives.begin(), drives.end(),
                           [&](const DriveConfig& d) { return d.drive_id == drive.drive_id; });
  if (drive.is_root_device) {
    for (const DriveConfig& d : drives) {
      if (d.is_root_device && d.drive_id != drive.drive_id) {
        throw Error(fmt::format("{}: only one root device is allowed; '{}' is already the root",
                                context, d.drive_id));
      }
    }
  }
  if (same != drives.end()) {
    *same = std::move(drive);
    return;
  }
  // The same limit the VMM applies at boot, so an accepted configuration can always start.
  if (drives.size() >= kMaxVirtioDevices) {
    throw Error(fmt::format("{}: at most {} drives are supported; '{}' would be drive {}", context, kMaxVirtioDevices,
                            drive.drive_id, drives.size() + 1));
  }
  drives.push_back(std::move(drive));
}

LoggerConfig parse_logger(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context),
                 {"log_path", "level", "show_level", "show_log_origin", "module"});
  LoggerConfig l;
  l.log_path = r.opt_nonempty_string("log_path");
  if (auto name = r.opt_string("level")) {
    auto level = parse_log_level(*name);
    if (!level) {
      r.fail("level", fmt::format("must be one of \"Error\", \"Warning\", \"Info\", \"Debug\", "
                                  "\"Trace\", \"Off\", got \"{}\"",
                                  *name));
    }
    l.level = *level;
  }
  l.show_level = r.opt_boolean("show_level").value_or(false);
  l.show_log_origin = r.opt_boolean("show_log_origin").value_or(false);
  l.module = r.opt_nonempty_string("module");
  return l;
}

MetricsConfig parse_metrics(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context), {"metrics_path", "emit_id", "properties"});
  MetricsConfig m;
  m.metrics_path = r.nonempty_string("metrics_path");
  m.emit_id = r.opt_boolean("emit_id").value_or(false);
  if (const nlohmann::json* props = r.get("properties")) {
    if (!props->is_object()) throw_type_error(r.path("properties"), "an object of strings", *props);
    for (const auto& [key, value] : props->items()) {
      if (!value.is_string()) throw_type_error(r.path("properties") + "." + key, "a string", value);
      m.properties[key] = value.get<std::string>();
    }
  }
  return m;
}

}  // namespace hearth::api
