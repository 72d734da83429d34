#pragma once
// The validated configuration of one microVM. Produced by api/ (config file or REST bodies),
// consumed by the VMM builder. Field names follow Firecracker's schema.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/base/error.h"
#include "vmm/config/cpu_template.h"
#include "vmm/config/limits.h"
#include "vmm/config/mmds.h"

namespace hearth {

// Hearth extension: which entry point of the kernel ELF to use.
enum class BootProtocol { kLinux64, kPvh };

struct BootSourceConfig {
  std::string kernel_image_path;
  std::optional<std::string> initrd_path;
  std::optional<std::string> boot_args;
  BootProtocol boot_protocol = BootProtocol::kLinux64;
};

// machine-config.huge_pages, Firecracker's values: host page size, THP madvise, or 2 MiB hugetlbfs pages.
enum class HugePages { kNone, kTransparent, k2M };

struct MachineConfig {
  uint32_t vcpu_count = 1;
  uint32_t mem_size_mib = 128;
  bool smt = false;
  bool track_dirty_pages = false;
  HugePages huge_pages = HugePages::kNone;
  StaticCpuTemplate cpu_template = StaticCpuTemplate::kNone;
};

struct TokenBucketConfig {
  uint64_t size = 0;
  uint64_t one_time_burst = 0;
  uint64_t refill_time_ms = 0;
};

struct RateLimiterConfig {
  std::optional<TokenBucketConfig> bandwidth;
  std::optional<TokenBucketConfig> ops;
};

enum class CacheType { kUnsafe, kWriteback };
enum class IoEngine { kSync, kAsync };

struct DriveConfig {
  std::string drive_id;
  std::string path_on_host;
  bool is_root_device = false;
  std::optional<std::string> partuuid;
  bool is_read_only = false;
  CacheType cache_type = CacheType::kUnsafe;
  IoEngine io_engine = IoEngine::kSync;
  std::optional<RateLimiterConfig> rate_limiter;
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarning, kError, kOff };

struct LoggerConfig {
  std::optional<std::string> log_path;
  LogLevel level = LogLevel::kInfo;
  bool show_level = false;
  bool show_log_origin = false;
  std::optional<std::string> module;
};

struct MetricsConfig {
  std::string metrics_path;
  bool emit_id = false;                           // each line carries "id": the instance id (--id)
  std::map<std::string, std::string> properties;  // each line carries them as "properties"
};

struct VmConfig {
  std::optional<BootSourceConfig> boot_source;
  MachineConfig machine;
  std::vector<DriveConfig> drives;
  std::optional<LoggerConfig> logger;
  std::optional<MetricsConfig> metrics;
  // A custom CPU template (PUT /cpu-config, "cpu-config"); it and machine.cpu_template exclude each other.
  std::optional<CustomCpuTemplate> cpu_config;
  // Device kinds of the registry (vmm/config/device_kind.h): section name -> validated body, or an
  // array of bodies for a multi-instance kind ("network-interfaces").
  std::map<std::string, nlohmann::json> device_sections;
  std::optional<MmdsConfigSpec> mmds;  // PUT /mmds/config, "mmds-config"
};

// Each of these is one virtio-mmio device; their total is bounded by kMaxVirtioDevices.
inline size_t virtio_device_count(const VmConfig& c) {
  size_t count = c.drives.size();
  for (const auto& [name, section] : c.device_sections) count += section.is_array() ? section.size() : 1;
  return count;
}

// The boot-time limit, applied the same way when a configuration is accepted (PUT, config file).
inline void check_virtio_device_count(const VmConfig& c, std::string_view context) {
  if (virtio_device_count(c) > kMaxVirtioDevices) {
    throw Error(fmt::format("{}: at most {} virtio devices (drives and other device sections) are supported, got {}",
                            context, kMaxVirtioDevices, virtio_device_count(c)));
  }
}

}  // namespace hearth
