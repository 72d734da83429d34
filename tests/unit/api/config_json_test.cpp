#include "api/config_json.h"

#include <gtest/gtest.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

// vm_config.h has no operator==; compare field by field here.
auto tie(const TokenBucketConfig& b) { return std::tie(b.size, b.one_time_burst, b.refill_time_ms); }
bool same(const std::optional<TokenBucketConfig>& a, const std::optional<TokenBucketConfig>& b) {
  return a.has_value() == b.has_value() && (!a || tie(*a) == tie(*b));
}
bool same(const std::optional<RateLimiterConfig>& a, const std::optional<RateLimiterConfig>& b) {
  return a.has_value() == b.has_value() &&
         (!a || (same(a->bandwidth, b->bandwidth) && same(a->ops, b->ops)));
}
bool same(const DriveConfig& a, const DriveConfig& b) {
  return std::tie(a.drive_id, a.path_on_host, a.is_root_device, a.partuuid, a.is_read_only,
                  a.cache_type, a.io_engine) ==
             std::tie(b.drive_id, b.path_on_host, b.is_root_device, b.partuuid, b.is_read_only,
                      b.cache_type, b.io_engine) &&
         same(a.rate_limiter, b.rate_limiter);
}
bool same(const VmConfig& a, const VmConfig& b) {
  auto boot = [](const std::optional<BootSourceConfig>& x) {
    return x ? std::make_tuple(true, x->kernel_image_path, x->initrd_path, x->boot_args,
                               x->boot_protocol)
             : std::make_tuple(false, std::string(), std::optional<std::string>(),
                               std::optional<std::string>(), BootProtocol::kLinux64);
  };
  auto machine = [](const MachineConfig& m) {
    return std::tie(m.vcpu_count, m.mem_size_mib, m.smt, m.track_dirty_pages);
  };
  auto logger = [](const std::optional<LoggerConfig>& l) {
    return l ? std::make_tuple(true, l->log_path, l->level, l->show_level, l->show_log_origin,
                               l->module)
             : std::make_tuple(false, std::optional<std::string>(), LogLevel::kInfo, false, false,
                               std::optional<std::string>());
  };
  if (boot(a.boot_source) != boot(b.boot_source)) return false;
  if (machine(a.machine) != machine(b.machine)) return false;
  if (logger(a.logger) != logger(b.logger)) return false;
  if (a.metrics.has_value() != b.metrics.has_value()) return false;
  if (a.metrics && (a.metrics->metrics_path != b.metrics->metrics_path || a.metrics->emit_id != b.metrics->emit_id ||
                    a.metrics->properties != b.metrics->properties)) {
    return false;
  }
  if (a.drives.size() != b.drives.size()) return false;
  for (size_t i = 0; i < a.drives.size(); ++i) {
    if (!same(a.drives[i], b.drives[i])) return false;
  }
  return true;
}

std::string error_of(std::string_view text) {
  try {
    api::parse_config_file(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// A minimal valid config with `section` replaced/added.
std::string with(std::string_view section, std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(R"({"boot-source": {"kernel_image_path": "/k"}})");
  j[std::string(section)] = nlohmann::json::parse(body);
  return j.dump();
}

constexpr const char* kFull = R"({
  "boot-source": {"kernel_image_path": "/vmlinux", "initrd_path": "/initrd",
                  "boot_args": "console=ttyS0", "boot_protocol": "pvh"},
  "machine-config": {"vcpu_count": 4, "mem_size_mib": 1024, "smt": true,
                     "track_dirty_pages": true, "cpu_template": "None"},
  "drives": [
    {"drive_id": "rootfs", "path_on_host": "/root.ext4", "is_root_device": true,
     "partuuid": "0eaa91a0-01", "is_read_only": true, "cache_type": "Writeback",
     "io_engine": "Async",
     "rate_limiter": {"bandwidth": {"size": 1000, "one_time_burst": 5, "refill_time": 100},
                      "ops": {"size": 10, "refill_time": 1000}}},
    {"drive_id": "data_1", "path_on_host": "/data.img", "is_root_device": false}
  ],
  "logger": {"log_path": "/tmp/log", "level": "dEbUg", "show_level": true,
             "show_log_origin": true, "module": "api"},
  "metrics": {"metrics_path": "/tmp/metrics"},
  "network-interfaces": []
})";

TEST(ConfigJson, FullConfigEveryField) {
  VmConfig c = api::parse_config_file(kFull);
  ASSERT_TRUE(c.boot_source);
  EXPECT_EQ(c.boot_source->kernel_image_path, "/vmlinux");
  EXPECT_EQ(c.boot_source->initrd_path, "/initrd");
  EXPECT_EQ(c.boot_source->boot_args, "console=ttyS0");
  EXPECT_EQ(c.boot_source->boot_protocol, BootProtocol::kPvh);
  EXPECT_EQ(c.machine.vcpu_count, 4u);
  EXPECT_EQ(c.machine.mem_size_mib, 1024u);
  EXPECT_TRUE(c.machine.smt);
  EXPECT_TRUE(c.machine.track_dirty_pages);
  ASSERT_EQ(c.drives.size(), 2u);
  const DriveConfig& root = c.drives[0];
  EXPECT_EQ(root.drive_id, "rootfs");
  EXPECT_EQ(root.path_on_host, "/root.ext4");
  EXPECT_TRUE(root.is_root_device);
  EXPECT_EQ(root.partuuid, "0eaa91a0-01");
  EXPECT_TRUE(root.is_read_only);
  EXPECT_EQ(root.cache_type, CacheType::kWriteback);
  EXPECT_EQ(root.io_engine, IoEngine::kAsync);
  ASSERT_TRUE(root.rate_limiter && root.rate_limiter->bandwidth && root.rate_limiter->ops);
  EXPECT_EQ(root.rate_limiter->bandwidth->size, 1000u);
  EXPECT_EQ(root.rate_limiter->bandwidth->one_time_burst, 5u);
  EXPECT_EQ(root.rate_limiter->bandwidth->refill_time_ms, 100u);
  EXPECT_EQ(root.rate_limiter->ops->size, 10u);
  EXPECT_EQ(root.rate_limiter->ops->one_time_burst, 0u);
  EXPECT_EQ(root.rate_limiter->ops->refill_time_ms, 1000u);
  const DriveConfig& data = c.drives[1];
  EXPECT_FALSE(data.is_root_device);
  EXPECT_FALSE(data.is_read_only);
  EXPECT_EQ(data.cache_type, CacheType::kUnsafe);
  EXPECT_EQ(data.io_engine, IoEngine::kSync);
  EXPECT_FALSE(data.rate_limiter);
  EXPECT_FALSE(data.partuuid);
  ASSERT_TRUE(c.logger);
  EXPECT_EQ(c.logger->log_path, "/tmp/log");
  EXPECT_EQ(c.logger->level, LogLevel::kDebug);
  EXPECT_TRUE(c.logger->show_level);
  EXPECT_TRUE(c.logger->show_log_origin);
  EXPECT_EQ(c.logger->module, "api");
  ASSERT_TRUE(c.metrics);
  EXPECT_EQ(c.metrics->metrics_path, "/tmp/metrics");
}

TEST(ConfigJson, Defaults) {
  VmConfig c = api::parse_config_file(R"({"boot-source": {"kernel_image_path": "/k"}})");
  EXPECT_EQ(c.boot_source->boot_protocol, BootProtocol::kLinux64);
  EXPECT_FALSE(c.boot_source->initrd_path);
  EXPECT_EQ(c.machine.vcpu_count, 1u);
  EXPECT_EQ(c.machine.mem_size_mib, 128u);
  EXPECT_TRUE(c.drives.empty());
  EXPECT_FALSE(c.logger);
  EXPECT_FALSE(c.metrics);
}

TEST(ConfigJson, RoundTrip) {
  VmConfig c = api::parse_config_file(kFull);
  std::string text = api::to_json(c).dump();
  VmConfig back = api::parse_config_file(text);
  EXPECT_TRUE(same(c, back)) << text;
  // Changing any field must break equality, or `same` proves nothing.
  back.drives[0].rate_limiter->ops->one_time_burst = 1;
  EXPECT_FALSE(same(c, back));

  VmConfig minimal = api::parse_config_file(R"({"boot-source": {"kernel_image_path": "/k"}})");
  EXPECT_TRUE(same(minimal, api::parse_config_file(api::to_json(minimal).dump())));
  // The Hearth-only boot_protocol is left out at its default, so Firecracker could read the file.
  EXPECT_FALSE(api::to_json(minimal)["boot-source"].contains("boot_protocol"));
}

TEST(ConfigJson, ToJsonSchema) {
  nlohmann::json j = api::to_json(api::parse_config_file(kFull));
  EXPECT_EQ(j["boot-source"]["boot_protocol"], "pvh");
  EXPECT_EQ(j["machine-config"]["vcpu_count"], 4);
  EXPECT_EQ(j["drives"][0]["cache_type"], "Writeback");
  EXPECT_EQ(j["drives"][0]["rate_limiter"]["bandwidth"]["refill_time"], 100);
  EXPECT_EQ(j["logger"]["level"], "Debug");
  EXPECT_EQ(j["metrics"]["metrics_path"], "/tmp/metrics");
  EXPECT_FALSE(j.contains("network-interfaces"));
}

TEST(ConfigJson, TopLevelErrors) {
  EXPECT_EQ(error_of("{\n\"boot-source\": {,}\n}").rfind(
                "config file: invalid JSON at line 2 column 17: ", 0),
            0u);
  EXPECT_EQ(error_of("[]"), "config file: expected an object, got array");
  EXPECT_EQ(error_of("{}"), "config file: missing required field 'boot-source'");
  EXPECT_EQ(error_of(with("bogus", "1")), "config file: unknown field 'bogus'");
  // Sections that landed through the device registry validate their bodies, naming the instance.
  EXPECT_EQ(error_of(with("network-interfaces", R"([{"iface_id": "eth0"}])")),
            "network-interfaces[0]: missing required field 'host_dev_name'");
  EXPECT_EQ(error_of(with("balloon", "{}")), "balloon: missing required field 'amount_mib'");
  EXPECT_EQ(error_of(with("pmem", R"([{"id": "p", "path_on_host": "/p"}])")), "pmem is not supported yet");
  EXPECT_EQ(error_of(with("memory-hotplug", "{}")), "memory-hotplug is not supported yet");
  EXPECT_EQ(error_of(with("cpu-config", R"({"cpuid_modifiers": [], "bogus": 1})")),
            "cpu-config: unknown field 'bogus'");
  EXPECT_EQ(error_of(with("memory-hotplug", R"({"total_size_mib": 1024})")), "memory-hotplug is not supported yet");
}

// Firecracker's own files carry every section of its schema, the unused ones null or empty.
TEST(ConfigJson, FirecrackerNullAndEmptySectionsConfigureNothing) {
  const VmConfig c = api::parse_config_file(R"({
    "boot-source": {"kernel_image_path": "/k", "boot_args": "console=ttyS0", "initrd_path": null},
    "drives": [{"drive_id": "rootfs", "partuuid": null, "is_root_device": true, "cache_type": "Unsafe",
                "is_read_only": false, "path_on_host": "/r", "io_engine": "Sync", "rate_limiter": null,
                "socket": null},
               {"drive_id": "data", "partuuid": "1234-02", "is_root_device": false, "path_on_host": "/d",
                "socket": null}],
    "machine-config": {"vcpu_count": 2, "mem_size_mib": 1024, "smt": false, "track_dirty_pages": false,
                       "huge_pages": "None"},
    "cpu-config": null, "balloon": null, "network-interfaces": [], "vsock": null, "logger": null,
    "metrics": null, "mmds-config": null, "entropy": null, "pmem": [], "memory-hotplug": null})");
  ASSERT_EQ(c.drives.size(), 2u);
  EXPECT_FALSE(c.drives[0].partuuid);
  EXPECT_EQ(c.drives[1].partuuid, "1234-02");  // kept, and ignored as Firecracker does: not the root
  EXPECT_EQ(c.machine.vcpu_count, 2u);
  EXPECT_FALSE(c.logger);
  EXPECT_FALSE(c.metrics);
  EXPECT_TRUE(c.device_sections.empty());
  // An empty custom CPU template changes nothing either.
  EXPECT_EQ(error_of(with("cpu-config", "{}")), "<no error>");
  // Unknown fields stay errors, null or not.
  EXPECT_EQ(error_of(with("net", "null")), "config file: unknown field 'net'");
}

TEST(ConfigJson, BootSourceErrors) {
  EXPECT_EQ(error_of(R"({"boot-source": 5})"), "boot-source: expected an object, got unsigned integer");
  EXPECT_EQ(error_of(R"({"boot-source": {}})"),
            "boot-source: missing required field 'kernel_image_path'");
  EXPECT_EQ(error_of(R"({"boot-source": {"kernel_image_path": 1}})"),
            "boot-source.kernel_image_path: expected a string, got unsigned integer");
  EXPECT_EQ(error_of(R"({"boot-source": {"kernel_image_path": ""}})"),
            "boot-source.kernel_image_path: must not be empty");
  EXPECT_EQ(error_of(R"({"boot-source": {"kernel_image_path": "/k", "kernel": 1}})"),
            "boot-source: unknown field 'kernel'");
  EXPECT_EQ(error_of(R"({"boot-source": {"kernel_image_path": "/k", "boot_protocol": "efi"}})"),
            "boot-source.boot_protocol: must be one of \"linux\", \"pvh\", got \"efi\"");
  EXPECT_EQ(error_of(R"({"boot-source": {"kernel_image_path": "/k", "boot_args": false}})"),
            "boot-source.boot_args: expected a string, got boolean");
}

TEST(ConfigJson, MachineConfigErrors) {
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpus": 2, "mem_size_mib": 2})")),
            "machine-config: unknown field 'vcpus'");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": "2", "mem_size_mib": 2})")),
            "machine-config.vcpu_count: expected an unsigned integer, got string");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 0, "mem_size_mib": 2})")),
            "machine-config.vcpu_count: must be between 1 and 32, got 0");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 33, "mem_size_mib": 2})")),
            "machine-config.vcpu_count: must be between 1 and 32, got 33");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 1.5, "mem_size_mib": 2})")),
            "machine-config.vcpu_count: expected an unsigned integer, got floating-point number");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 1, "mem_size_mib": 0})")),
            "machine-config.mem_size_mib: must be between 2 and 4294967295, got 0");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 1, "mem_size_mib": 4294967296})")),
            "machine-config.mem_size_mib: must be between 2 and 4294967295, got 4294967296");
  EXPECT_EQ(error_of(with("machine-config", R"({"mem_size_mib": 2})")),
            "machine-config: missing required field 'vcpu_count'");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 1})")),
            "machine-config: missing required field 'mem_size_mib'");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 1, "mem_size_mib": 2, "smt": 1})")),
            "machine-config.smt: expected a boolean, got unsigned integer");
  EXPECT_EQ(error_of(with("machine-config",
                          R"({"vcpu_count": 1, "mem_size_mib": 2, "track_dirty_pages": "y"})")),
            "machine-config.track_dirty_pages: expected a boolean, got string");
  EXPECT_EQ(error_of(with("machine-config", R"({"vcpu_count": 3, "mem_size_mib": 2, "smt": true})")),
            "machine-config.vcpu_count: must be 1 or even when smt is enabled, got 3");
  EXPECT_EQ(error_of(with("machine-config",
                          R"({"vcpu_count": 1, "mem_size_mib": 2, "cpu_template": "V1N1"})")),
            "machine-config.cpu_template: \"V1N1\" is an aarch64 template; this host is x86_64");
  EXPECT_EQ(error_of(with("machine-config",
                          R"({"vcpu_count": 1, "mem_size_mib": 3, "huge_pages": "2M"})")),
            "machine-config.mem_size_mib: must be a multiple of 2 with huge_pages \"2M\", got 3");
  EXPECT_EQ(error_of(with("machine-config",
                          R"({"vcpu_count": 1, "mem_size_mib": 2, "huge_pages": "1G"})")),
            "machine-config.huge_pages: must be one of \"None\", \"Transparent\", \"2M\", got \"1G\"");
  EXPECT_EQ(error_of(with("machine-config", "[1]")),
            "machine-config: expected an object, got array");
}

TEST(ConfigJson, MachineConfigPatch) {
  MachineConfig m;
  m.vcpu_count = 2;
  m.mem_size_mib = 256;
  MachineConfig p = api::patch_machine_config(m, nlohmann::json::parse(R"({"mem_size_mib": 512})"));
  EXPECT_EQ(p.vcpu_count, 2u);
  EXPECT_EQ(p.mem_size_mib, 512u);
  EXPECT_THROW(api::patch_machine_config(m, nlohmann::json::parse(R"({"vcpu_count": 3, "smt": true})")),
               Error);
  p = api::patch_machine_config(m, nlohmann::json::parse(R"({"smt": true})"));
  EXPECT_TRUE(p.smt);
  EXPECT_THROW(api::patch_machine_config(m, nlohmann::json::parse(R"({"x": 1})")), Error);
}

TEST(ConfigJson, DriveErrors) {
  auto drives = [](std::string_view body) { return with("drives", body); };
  EXPECT_EQ(error_of(drives("{}")), "drives: expected an array, got object");
  EXPECT_EQ(error_of(drives("[5]")), "drives[0]: expected an object, got unsigned integer");
  EXPECT_EQ(error_of(drives(R"([{"path_on_host": "/a", "is_root_device": true}])")),
            "drives[0]: missing required field 'drive_id'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "is_root_device": true}])")),
            "drives[0]: missing required field 'path_on_host'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a"}])")),
            "drives[0]: missing required field 'is_root_device'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": "yes"}])")),
            "drives[0].is_root_device: expected a boolean, got string");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a b", "path_on_host": "/a", "is_root_device": true}])")),
            "drives[0].drive_id: may contain only letters, digits and '_'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "", "path_on_host": "/a", "is_root_device": true}])")),
            "drives[0].drive_id: must be 1 to 64 characters long, got 0");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": true,
                                 "cache_type": "unsafe"}])")),
            "drives[0].cache_type: must be one of \"Unsafe\", \"Writeback\", got \"unsafe\"");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": true,
                                 "io_engine": "Uring"}])")),
            "drives[0].io_engine: must be one of \"Sync\", \"Async\", got \"Uring\"");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": true,
                                 "socket": "/s"}])")),
            "drives[0].socket: vhost-user drives are not supported");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": true,
                                 "readonly": true}])")),
            "drives[0]: unknown field 'readonly'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": false},
                                {"drive_id": "a", "path_on_host": "/b", "is_root_device": false}])")),
            "drives[1].drive_id: duplicate drive_id 'a'");
  EXPECT_EQ(error_of(drives(R"([{"drive_id": "a", "path_on_host": "/a", "is_root_device": true},
                                {"drive_id": "b", "path_on_host": "/b", "is_root_device": true}])")),
            "drives[1]: only one root device is allowed; 'a' is already the root");
}

TEST(ConfigJson, RateLimiterErrors) {
  auto limiter = [](std::string_view rl) {
    return with("drives", std::string(R"([{"drive_id": "a", "path_on_host": "/a",
                                           "is_root_device": true, "rate_limiter": )") +
                              std::string(rl) + "}]");
  };
  EXPECT_EQ(error_of(limiter(R"({"bandwidth": {"size": 1}})")),
            "drives[0].rate_limiter.bandwidth: missing required field 'refill_time'");
  EXPECT_EQ(error_of(limiter(R"({"ops": {"size": -1, "refill_time": 1}})")),
            "drives[0].rate_limiter.ops.size: expected an unsigned integer, got negative integer");
  EXPECT_EQ(error_of(limiter(R"({"ops": {"size": 1, "refill_time": 1, "burst": 1}})")),
            "drives[0].rate_limiter.ops: unknown field 'burst'");
  EXPECT_EQ(error_of(limiter(R"({"iops": {}})")), "drives[0].rate_limiter: unknown field 'iops'");
  EXPECT_EQ(error_of(limiter(R"({"ops": {"size": 1, "refill_time": 1e30}})")),
            "drives[0].rate_limiter.ops.refill_time: expected an unsigned integer, got "
            "floating-point number");
}

TEST(ConfigJson, DrivePatch) {
  auto p = api::parse_drive_patch(nlohmann::json::parse(
      R"({"drive_id": "a", "path_on_host": "/new", "rate_limiter": {"ops": {"size": 1, "refill_time": 2}}})"));
  EXPECT_EQ(p.drive_id, "a");
  EXPECT_EQ(p.path_on_host, "/new");
  ASSERT_TRUE(p.rate_limiter && p.rate_limiter->ops);
  EXPECT_EQ(p.rate_limiter->ops->refill_time_ms, 2u);
  EXPECT_THROW(api::parse_drive_patch(nlohmann::json::parse(R"({"drive_id": "a", "is_read_only": true})")),
               Error);
  EXPECT_THROW(api::parse_drive_patch(nlohmann::json::parse(R"({"path_on_host": "/x"})")), Error);
}

TEST(ConfigJson, LoggerAndMetrics) {
  for (auto [name, level] : {std::pair{"error", LogLevel::kError}, {"WARNING", LogLevel::kWarning},
                             {"warn", LogLevel::kWarning}, {"Info", LogLevel::kInfo},
                             {"trace", LogLevel::kTrace}, {"OFF", LogLevel::kOff}}) {
    VmConfig c = api::parse_config_file(with("logger", fmt::format(R"({{"level": "{}"}})", name)));
    EXPECT_EQ(c.logger->level, level) << name;
  }
  EXPECT_EQ(error_of(with("logger", R"({"level": "verbose"})")),
            "logger.level: must be one of \"Error\", \"Warning\", \"Info\", \"Debug\", \"Trace\", "
            "\"Off\", got \"verbose\"");
  EXPECT_EQ(error_of(with("logger", R"({"level": 3})")),
            "logger.level: expected a string, got unsigned integer");
  EXPECT_EQ(error_of(with("logger", R"({"path": "/x"})")), "logger: unknown field 'path'");
  EXPECT_EQ(error_of(with("logger", R"({"show_level": "true"})")),
            "logger.show_level: expected a boolean, got string");
  EXPECT_EQ(error_of(with("metrics", "{}")), "metrics: missing required field 'metrics_path'");
  EXPECT_EQ(error_of(with("metrics", R"({"metrics_path": 7})")),
            "metrics.metrics_path: expected a string, got unsigned integer");
  EXPECT_EQ(error_of(with("metrics", R"({"metrics_path": "/m", "x": 1})")),
            "metrics: unknown field 'x'");
  EXPECT_EQ(error_of(with("metrics", R"("/m")")), "metrics: expected an object, got string");
  EXPECT_EQ(error_of(with("metrics", R"({"metrics_path": "/m", "emit_id": 1})")),
            "metrics.emit_id: expected a boolean, got unsigned integer");
  EXPECT_EQ(error_of(with("metrics", R"({"metrics_path": "/m", "properties": ["a"]})")),
            "metrics.properties: expected an object of strings, got array");
  EXPECT_EQ(error_of(with("metrics", R"({"metrics_path": "/m", "properties": {"zone": 3}})")),
            "metrics.properties.zone: expected a string, got unsigned integer");
}

// Firecracker's current Metrics schema: emit_id and properties parse, and GET /vm/config shows them only when set.
TEST(ConfigJson, MetricsEmitIdAndPropertiesRoundTrip) {
  const VmConfig c = api::parse_config_file(R"({"boot-source": {"kernel_image_path": "/k"},
      "metrics": {"metrics_path": "/m", "emit_id": true, "properties": {"zone": "eu-1", "pool": "a"}}})");
  ASSERT_TRUE(c.metrics);
  EXPECT_TRUE(c.metrics->emit_id);
  EXPECT_EQ(c.metrics->properties, (std::map<std::string, std::string>{{"pool", "a"}, {"zone", "eu-1"}}));
  const nlohmann::json j = api::to_json(c);
  EXPECT_EQ(j["metrics"]["emit_id"], true);
  EXPECT_EQ(j["metrics"]["properties"]["zone"], "eu-1");
  const VmConfig plain = api::parse_config_file(R"({"boot-source": {"kernel_image_path": "/k"}, "metrics": {"metrics_path": "/m"}})");
  EXPECT_EQ(api::to_json(plain)["metrics"], nlohmann::json({{"metrics_path", "/m"}}));
}

}  // namespace
}  // namespace hearth
