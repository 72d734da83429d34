#include "api/preboot_controller.h"

#include <algorithm>

#include <fmt/format.h>

#include "api/config_checks.h"
#include "api/mmds_json.h"
#include "vmm/config/device_kind.h"
#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::api {
namespace {

template <typename F>
Result<> catching(F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    return bad_request(e.what());
  }
}

// A PATCHed bucket replaces the old one; an absent bucket keeps it; size 0 turns it off.
RateLimiterConfig merge_rate_limiter(const std::optional<RateLimiterConfig>& old, const RateLimiterConfig& patch) {
  RateLimiterConfig merged = old.value_or(RateLimiterConfig{});
  auto apply = [](std::optional<TokenBucketConfig>& bucket, const std::optional<TokenBucketConfig>& update) {
    if (!update) return;
    if (update->size == 0) {
      bucket.reset();
    } else {
      bucket = update;
    }
  };
  apply(merged.bandwidth, patch.bandwidth);
  apply(merged.ops, patch.ops);
  return merged;
}

UniqueFd open_output_file(const std::string& path, std::string_view what) {
  HostFileRules rules;
  rules.kinds = kRegularFile | kFifo | kCharDevice;
  rules.access = O_WRONLY;
  rules.create = true;
  return open_host_file(path, what, rules).fd;
}

}  // namespace

PrebootConfigController::PrebootConfigController(std::string vmm_version, VmConfig initial,
                                                 metrics::Registry& registry)
    : vmm_version_(std::move(vmm_version)), config_(std::move(initial)), registry_(registry) {
  if (config_.boot_source || !config_.drives.empty() || !config_.device_sections.empty()) {
    configured_by_ = "--config-file";
  }
  if (config_.metrics) {
    metrics_sink_ = std::make_unique<metrics::LineSink>(config_.metrics->metrics_path, "metrics.metrics_path");
    seccomp::set_violation_metrics_fd(metrics_sink_->fd());
  }
}

template <typename F>
Result<> PrebootConfigController::preboot(std::string_view operation, F&& f, bool configures) {
  if (state_ != VmState::kNotStarted) {
    return bad_request(fmt::format("{} is not allowed after boot", operation));
  }
  if (migrating_) return bad_request(fmt::format("{} is not allowed: the microVM arrives by migration", operation));
  Result<> r = catching([&]() -> Result<> {
    f();
    return {};
  });
  if (r.ok() && configures && configured_by_.empty()) configured_by_ = operation;
  return r;
}

Result<InstanceInfo> PrebootConfigController::describe_instance() {
  InstanceInfo info;
  info.vmm_version = vmm_version_;
  info.state = std::string(describe(state_));
  return info;
}

Result<VmConfig> PrebootConfigController::get_vm_config() { return config_; }
Result<MachineConfig> PrebootConfigController::get_machine_config() { return config_.machine; }

Result<> PrebootConfigController::put_boot_source(const BootSourceConfig& boot) {
  return preboot("PUT /boot-source", [&] {
    check_boot_source_paths(boot);
    config_.boot_source = boot;
  });
}

Result<> PrebootConfigController::put_machine_config(const MachineConfig& machine) {
  return preboot("PUT /machine-config", [&] {
    validate_machine_config(machine, "machine-config");
    config_.machine = machine;
    // A static template replaces a custom one (Firecracker keeps one template slot).
    if (machine.cpu_template != StaticCpuTemplate::kNone) config_.cpu_config.reset();
  });
}

Result<> PrebootConfigController::patch_machine_config(const MachineConfigPatch& patch) {
  return preboot("PATCH /machine-config", [&] {
    config_.machine = apply_machine_config_patch(config_.machine, patch);
    if (patch.cpu_template) config_.cpu_config.reset();  // even "None": Firecracker clears the template slot
  });
}

Result<> PrebootConfigController::put_drive(const DriveConfig& drive) {
  return preboot("PUT /drives", [&] {
    check_drive_path(drive);
    VmConfig updated = config_;
    upsert_drive(updated.drives, drive, "drive");
    check_virtio_device_count(updated, "drive");
    config_ = std::move(updated);
  });
}

Result<> PrebootConfigController::patch_drive(const DrivePatch& patch) {
  auto it = std::find_if(config_.drives.begin(), config_.drives.end(),
                         [&](const DriveConfig& d) { return d.drive_id == patch.drive_id; });
  if (it == config_.drives.end()) {
    return bad_request(fmt::format("drive: no drive with drive_id '{}'", patch.drive_id));
  }
  // The destination opens the drive paths it was sent; a change now would be lost there.
  if (migrating_) return bad_request("drive: drives cannot change while the microVM migrates");
  // Before and after boot alike: the same checks as PUT, and GET /vm/config shows the result.
  return catching([&]() -> Result<> {
    DriveConfig updated = *it;
    if (patch.path_on_host) updated.path_on_host = *patch.path_on_host;
    if (patch.rate_limiter) updated.rate_limiter = merge_rate_limiter(it->rate_limiter, *patch.rate_limiter);
    check_drive_path(updated);
    if (state_ != VmState::kNotStarted) {
      if (Result<> r = update_drive(patch); !r.ok()) return r;
    }
    *it = std::move(updated);
    return {};
  });
}

Result<> PrebootConfigController::update_drive(const DrivePatch&) {
  return bad_request("PATCH /drives is not supported after boot yet");
}

// The SIGSYS handler must not write to the sink's fd number once it is closed and maybe reused.
PrebootConfigController::~PrebootConfigController() {
  if (metrics_sink_) seccomp::set_violation_metrics_fd(-1);
}

Result<> PrebootConfigController::put_logger(const LoggerConfig& logger) {
  return preboot("PUT /logger", [&] { config_.logger = logger; }, false);
}

Result<> PrebootConfigController::put_metrics(const MetricsConfig& metrics) {
  return preboot("PUT /metrics", [&] {
    auto sink = std::make_unique<metrics::LineSink>(metrics.metrics_path, "metrics.metrics_path");
    seccomp::set_violation_metrics_fd(sink->fd());
    metrics_sink_ = std::move(sink);
    config_.metrics = metrics;
  }, false);
}

Result<> PrebootConfigController::put_serial(const SerialConfig& serial) {
  return preboot("PUT /serial", [&] {
    // Opened now, so a path that cannot be written is this request's 400, not InstanceStart's.
    UniqueFd out;
    if (!serial.serial_out_path.empty()) out = open_output_file(serial.serial_out_path, "serial.serial_out_path");
    serial_out_ = std::move(out);
    serial_ = serial;
  }, false);
}

Result<> PrebootConfigController::put_cpu_config(const CustomCpuTemplate& t) {
  return preboot("PUT /cpu-config", [&] {
    config_.cpu_config = t;
    config_.machine.cpu_template = StaticCpuTemplate::kNone;
  });
}

Result<> PrebootConfigController::put_mmds_config(const MmdsConfigSpec& config) {
  return preboot("PUT /mmds/config", [&] {
    check_mmds_interfaces(config, network_interface_ids(config_), "mmds/config");
    config_.mmds = config;
  });
}

Result<> PrebootConfigController::put_device_section(std::string_view name, const nlohmann::json& section) {
  const DeviceConfigKind* kind = find_device_config_kind(name);
  if (kind == nullptr) return bad_request(fmt::format("{}: unknown device kind", name));
  return preboot(fmt::format("PUT /{}", name), [&] {
    if (kind->check_host != nullptr) kind->check_host(section, name);
    VmConfig updated = config_;  // checked as a whole first: a refused section changes nothing
    const auto existing = updated.device_sections.find(std::string(name));
    updated.device_sections[std::string(name)] = with_device_instance(
        *kind, existing == updated.device_sections.end() ? nullptr : &existing->second, section, name);
    check_virtio_device_count(updated, name);
    config_ = std::move(updated);
  });
}

namespace {

std::string device_path(std::string_view name, std::string_view id, std::string_view sub) {
  std::string path = fmt::format("/{}", name);
  if (!id.empty()) path += fmt::format("/{}", id);
  if (!sub.empty()) path += fmt::format("/{}", sub);
  return path;
}

}  // namespace

// The configured instance, or a 400 naming what is missing.
Result<nlohmann::json> PrebootConfigController::device_instance(std::string_view name, std::string_view id) const {
  const DeviceConfigKind* kind = find_device_config_kind(name);
  if (kind == nullptr) return bad_request(fmt::format("{}: unknown device kind", name));
  const auto section = config_.device_sections.find(std::string(name));
  const nlohmann::json* body =
      section == config_.device_sections.end() ? nullptr : find_device_instance(*kind, section->second, id);
  if (body == nullptr) {
    return bad_request(id.empty() ? fmt::format("{}: no {} device is configured", name, name)
                                  : fmt::format("{}: no {} with {} '{}'", name, name, kind->id_field, id));
  }
  return *body;
}

Result<> PrebootConfigController::patch_device(std::string_view name, std::string_view id, std::string_view sub,
                                               const nlohmann::json& patch) {
  const std::string path = device_path(name, id, sub);
  Result<nlohmann::json> body = device_instance(name, id);
  if (!body.ok()) return body.fault();
  const DeviceConfigKind& kind = *find_device_config_kind(name);
  if (migrating_) return bad_request(fmt::format("PATCH {} is not allowed while the microVM migrates", path));
  if (state_ == VmState::kNotStarted && !kind.patch_before_boot) {
    return bad_request(fmt::format("PATCH {} is only allowed after the microVM has started", path));
  }
  return catching([&]() -> Result<> {
    nlohmann::json updated = kind.apply_patch != nullptr ? kind.apply_patch(body.value(), sub, patch) : body.value();
    if (state_ != VmState::kNotStarted) {
      if (Result<> r = update_device(name, id, sub, patch); !r.ok()) return r;
    }
    auto& section = config_.device_sections[std::string(name)];
    section = with_device_instance(kind, &section, updated, name);
    return {};
  });
}

Result<nlohmann::json> PrebootConfigController::get_device(std::string_view name, std::string_view id,
                                                           std::string_view sub) {
  Result<nlohmann::json> body = device_instance(name, id);
  if (!body.ok()) return body;
  if (state_ == VmState::kNotStarted) {
    if (sub.empty()) return body;
    return bad_request(fmt::format("GET {} is only available after the microVM has started", device_path(name, id, sub)));
  }
  std::optional<Result<nlohmann::json>> r;
  Result<> done = catching([&]() -> Result<> {
    r.emplace(query_device(name, id, sub));
    return {};
  });
  if (!done.ok()) return done.fault();
  return std::move(*r);
}

Result<> PrebootConfigController::update_device(std::string_view name, std::string_view id, std::string_view sub,
                                                const nlohmann::json&) {
  return bad_request(fmt::format("PATCH {} is not supported after boot", device_path(name, id, sub)));
}

Result<nlohmann::json> PrebootConfigController::query_device(std::string_view name, std::string_view id,
                                                             std::string_view sub) {
  if (sub.empty()) return device_instance(name, id);
  return bad_request(fmt::format("GET {} is not supported", device_path(name, id, sub)));
}

Result<> PrebootConfigController::instance_start() {
  if (state_ != VmState::kNotStarted) return bad_request("InstanceStart: the microVM is already running");
  if (!config_.boot_source) {
    return bad_request("InstanceStart: no boot source is configured (PUT /boot-source first)");
  }
  Result<> r = catching([&] { return start_vm(config_); });
  if (r.ok()) state_ = *next_state(state_, VmEvent::kStart);
  return r;
}

Result<> PrebootConfigController::send_ctrl_alt_del() {
  if (state_ == VmState::kNotStarted) return bad_request("SendCtrlAltDel is not allowed before boot");
  return catching([&] { return ctrl_alt_del(); });
}

Result<> PrebootConfigController::flush_metrics() {
  if (!metrics_sink_) return bad_request("FlushMetrics: metrics are not configured (PUT /metrics first)");
  nlohmann::json extra = nlohmann::json::object();
  if (config_.metrics && config_.metrics->emit_id) extra["id"] = metrics_instance_id_;
  if (config_.metrics && !config_.metrics->properties.empty()) extra["properties"] = config_.metrics->properties;
  flush_json_line(registry_, *metrics_sink_, extra);
  return {};
}

Result<> PrebootConfigController::pause() {
  if (state_ == VmState::kNotStarted) return bad_request("Pause is not allowed before boot");
  if (migrating_) return bad_request("Pause is not allowed while the microVM migrates");
  if (state_ == VmState::kPaused) return {};
  Result<> r = catching([&] { return pause_vm(); });
  if (r.ok()) state_ = *next_state(state_, VmEvent::kPause);
  return r;
}

Result<> PrebootConfigController::resume() {
  if (state_ == VmState::kNotStarted) return bad_request("Resume is not allowed before boot");
  if (migrating_) return bad_request("Resume is not allowed while the microVM migrates");
  if (state_ == VmState::kRunning) return {};
  Result<> r = catching([&] { return resume_vm(); });
  if (r.ok()) state_ = *next_state(state_, VmEvent::kResume);
  return r;
}

Result<> PrebootConfigController::create_snapshot(const SnapshotCreateRequest& request) {
  registry_.counter(request.diff ? "snapshot.create_diff" : "snapshot.create_full").add();
  Result<> r = state_ != VmState::kPaused
                   ? Result<>(bad_request(fmt::format("snapshot/create: the microVM must be paused first (PATCH /vm "
                                                      "{{\"state\": \"Paused\"}}); it is {}",
                                                      describe(state_))))
                   : migrating_ ? Result<>(bad_request("snapshot/create: the microVM is migrating"))
                   : catching([&] { return snapshot_vm(request); });
  if (!r.ok()) registry_.counter("snapshot.create_fails").add();
  return r;
}

Result<> PrebootConfigController::load_snapshot(const SnapshotLoadRequest& request) {
  if (state_ != VmState::kNotStarted) {
    return bad_request("snapshot/load: a snapshot can only be loaded into a fresh microVM; this one was started");
  }
  if (!configured_by_.empty()) {
    return bad_request(fmt::format("snapshot/load: a snapshot can only be loaded before any boot configuration; "
                                   "this microVM was configured by {}",
                                   configured_by_));
  }
  registry_.counter("snapshot.load").add();
  Result<VmConfig> loaded = [&]() -> Result<VmConfig> {
    try {
      return restore_vm(request);
    } catch (const Error& e) {
      return bad_request(e.what());
    }
  }();
  if (!loaded.ok()) {
    registry_.counter("snapshot.load_fails").add();
    return loaded.fault();
  }
  // The restored VM keeps the logger, metrics and serial this process was given.
  VmConfig config = loaded.value();
  config.logger = config_.logger;
  config.metrics = config_.metrics;
  config_ = std::move(config);
  configured_by_ = "PUT /snapshot/load";
  state_ = *next_state(state_, VmEvent::kRestore);
  if (request.resume_vm) return resume();
  return {};
}

Result<> PrebootConfigController::migrate_receive(const MigrationReceiveRequest& request) {
  if (state_ != VmState::kNotStarted || migrating_) {
    return bad_request("migration/receive: only a fresh microVM can receive one; this one was started or is receiving");
  }
  if (!configured_by_.empty()) {
    return bad_request(fmt::format("migration/receive: the microVM arrives with its configuration; this one was "
                                   "already configured by {}",
                                   configured_by_));
  }
  Result<> r = catching([&] { return receive_vm(request); });
  if (r.ok()) {
    configured_by_ = "PUT /migration/receive";
    migrating_ = true;
  }
  return r;
}

Result<> PrebootConfigController::migrate_send(const MigrationSendRequest& request,
                                               std::function<void(Result<>)> done) {
  if (state_ != VmState::kRunning && state_ != VmState::kPaused) {
    return bad_request(fmt::format("migration/send: the microVM must be running or paused; it is {}", describe(state_)));
  }
  if (migrating_) return bad_request("migration/send: a migration is already in progress");
  if (request.post_copy && config_.machine.huge_pages == HugePages::k2M) {
    return bad_request("migration/send.post_copy: post-copy moves 4 KiB pages, which 2M huge-page memory cannot "
                       "take; migrate this microVM pre-copy");
  }
  Result<> r = catching([&] { return send_vm(request, std::move(done)); });
  if (r.ok()) migrating_ = true;
  return r;
}

Result<MigrationStatus> PrebootConfigController::migration_status() { return migration_progress(); }

void PrebootConfigController::adopt_migrated_vm(VmConfig config) {
  config.logger = config_.logger;
  config.metrics = config_.metrics;
  config_ = std::move(config);
  state_ = VmState::kRunning;
  migrating_ = false;
}

Result<> PrebootConfigController::receive_vm(const MigrationReceiveRequest&) {
  return bad_request("live migration is not supported by this controller");
}

Result<> PrebootConfigController::send_vm(const MigrationSendRequest&, std::function<void(Result<>)>) {
  return bad_request("live migration is not supported by this controller");
}

Result<> PrebootConfigController::snapshot_vm(const SnapshotCreateRequest&) {
  return bad_request("snapshots are not supported by this controller");
}

Result<VmConfig> PrebootConfigController::restore_vm(const SnapshotLoadRequest&) {
  return bad_request("snapshots are not supported by this controller");
}

}  // namespace hearth::api
