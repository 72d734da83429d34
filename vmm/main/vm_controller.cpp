#include "vmm/main/vm_controller.h"

#include <fcntl.h>

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "api/config_json.h"

#include "vmm/base/error.h"
#include "devices/model/device.h"
#include "vmm/main/logging.h"
#include "vmm/main/version.h"
#include "vmm/metrics/registry.h"
#include "virtio/blk/device.h"
#include "virtio/net/mmds/service.h"
#include "vmm/snapshot/snapshot.h"

namespace hearth {
namespace {

virtio::BucketUpdate bucket_update(const std::optional<TokenBucketConfig>& bucket) {
  if (!bucket) return virtio::BucketUpdate::keep();
  if (bucket->size == 0) return virtio::BucketUpdate::disable();
  return virtio::BucketUpdate::set(*bucket);
}

}  // namespace

VmController::VmController(EventLoop& loop, VmmOptions options, VmConfig initial, std::string instance_id)
    : PrebootConfigController(std::string(kVersion), std::move(initial)),
      loop_(loop),
      options_(std::move(options)),
      instance_id_(std::move(instance_id)) {
  set_metrics_instance_id(instance_id_);
}

api::Result<api::InstanceInfo> VmController::describe_instance() {
  auto info = PrebootConfigController::describe_instance();
  if (!info.ok()) return info;
  api::InstanceInfo value = info.value();
  value.id = instance_id_;
  return value;
}

api::Result<> VmController::put_logger(const LoggerConfig& logger) {
  // After boot the base refuses; the logger must not be swapped while vCPU threads log through it.
  if (state() != VmState::kNotStarted) return PrebootConfigController::put_logger(logger);
  try {
    configure_logging(logger, instance_id_);
  } catch (const Error& e) {
    return api::bad_request(e.what());
  }
  return PrebootConfigController::put_logger(logger);
}

void VmController::configure_mmds(const VmConfig& config) {
  if (options_.mmds && config.mmds) options_.mmds->set_config(virtio::net::mmds::mmds_config_from(*config.mmds));
}

template <typename F>
api::Result<> VmController::with_mmds(F&& f) {
  if (!options_.mmds) return api::bad_request("mmds: this VMM has no metadata service");
  try {
    f(*options_.mmds);
  } catch (const virtio::net::mmds::DataStoreError& e) {
    // Firecracker: a store over --mmds-size-limit is 413 Payload Too Large, the rest 400.
    return api::Fault{e.kind() == virtio::net::mmds::DataStoreError::Kind::TooLarge ? 413 : 400, e.what()};
  }
  return {};
}

api::Result<> VmController::put_mmds(const nlohmann::json& data) {
  return with_mmds([&](virtio::net::mmds::Service& s) { s.put(data); });
}

api::Result<> VmController::patch_mmds(const nlohmann::json& patch) {
  return with_mmds([&](virtio::net::mmds::Service& s) { s.patch(patch); });
}

api::Result<nlohmann::json> VmController::get_mmds() {
  if (!options_.mmds) return api::bad_request("mmds: this VMM has no metadata service");
  return options_.mmds->get();
}

api::Result<> VmController::start_vm(const VmConfig& config) {
  configure_mmds(config);
  VmmOptions options = options_;
  if (serial_out_fd() >= 0) options.console_out_fd = serial_out_fd();
  auto vmm = std::make_unique<Vmm>(config, options, loop_);
  vmm->start();
  vmm_ = std::move(vmm);
  return {};
}

api::Result<> VmController::pause_vm() {
  vmm_->pause();
  return {};
}

api::Result<> VmController::resume() {
  if (vm_lost_) {
    return api::bad_request("the microVM ran on the migration destination after the hand-over; this copy is stale "
                            "and cannot resume");
  }
  return PrebootConfigController::resume();
}

api::Result<> VmController::resume_vm() {
  vmm_->resume();
  return {};
}

api::Result<> VmController::ctrl_alt_del() {
  vmm_->send_ctrl_alt_del();
  return {};
}

api::Result<> VmController::update_drive(const api::DrivePatch& patch) {
  for (const auto& drive : vmm_->drives()) {
    if (drive->drive_id() != patch.drive_id) continue;
    if (patch.path_on_host) drive->update_backing_file(*patch.path_on_host);
    if (patch.rate_limiter) {
      drive->update_rate_limiter(bucket_update(patch.rate_limiter->bandwidth), bucket_update(patch.rate_limiter->ops));
    }
    return {};
  }
  return api::bad_request("drive " + patch.drive_id + " does not exist");
}

api::Result<> VmController::update_device(std::string_view name, std::string_view id, std::string_view sub,
                                          const nlohmann::json& patch) {
  vmm_->patch_device(name, id, sub, patch);
  return {};
}

api::Result<nlohmann::json> VmController::query_device(std::string_view name, std::string_view id,
                                                       std::string_view sub) {
  return vmm_->get_device(name, id, sub);
}

api::Result<> VmController::snapshot_vm(const api::SnapshotCreateRequest& request) {
  snapshot::CreateParams params;
  params.type = request.diff ? snapshot::SnapshotType::kDiff : snapshot::SnapshotType::kFull;
  params.snapshot_path = request.snapshot_path;
  params.mem_file_path = request.mem_file_path;
  params.hearth_version = std::string(kVersion);
  params.vm_config = api::to_json(config());
  params.drives = config().drives;
  const auto stats = snapshot::create_snapshot(*vmm_, params);
  auto& registry = metrics::global();
  registry.counter("snapshot.create_us").add(static_cast<uint64_t>(stats.elapsed.count()));
  registry.counter("snapshot.memory_bytes_written").add(stats.memory.bytes_written);
  registry.set_text("snapshot.last_snapshot_path", request.snapshot_path);
  registry.set_text("snapshot.last_mem_file_path", request.mem_file_path);
  return {};
}

api::Result<VmConfig> VmController::restore_vm(const api::SnapshotLoadRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  const snapshot::StateFile state = snapshot::read_state_file(request.snapshot_path, "snapshot_path");
  VmConfig config;
  try {
    config = api::parse_config(state.vm_config);
  } catch (const Error& e) {
    throw Error(fmt::format("snapshot_path: the configuration in '{}' is invalid: {}", request.snapshot_path, e.what()));
  }
  config.machine.track_dirty_pages = request.track_dirty_pages;
  configure_mmds(config);
  snapshot::LoadParams params;
  params.backend = request.uffd ? snapshot::MemoryBackend::kUffd : snapshot::MemoryBackend::kFile;
  params.backend_path = request.backend_path;
  VmmOptions options = options_;
  if (serial_out_fd() >= 0) options.console_out_fd = serial_out_fd();
  snapshot::RestoredVm restored = snapshot::restore_snapshot(config, state, params, options, loop_);
  uffd_ = std::move(restored.uffd);
  vmm_ = std::move(restored.vmm);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  metrics::global().counter("snapshot.load_us").add(static_cast<uint64_t>(us.count()));
  SPDLOG_INFO("snapshot loaded from {} ({} backend {}) in {} us", request.snapshot_path,
              request.uffd ? "Uffd" : "File", request.backend_path, us.count());
  return config;
}

api::Result<> VmController::receive_vm(const MigrationReceiveRequest& request) {
  VmmOptions options = options_;
  if (serial_out_fd() >= 0) options.console_out_fd = serial_out_fd();
  migration::Destination::Hooks hooks;
  hooks.parse_config = [this](const nlohmann::json& j) {
    VmConfig config = api::parse_config(j);
    configure_mmds(config);
    return config;
  };
  hooks.arrived = [this](std::unique_ptr<Vmm> vmm, VmConfig config) {
    vmm_ = std::move(vmm);
    adopt_migrated_vm(std::move(config));
    SPDLOG_INFO("migration: the microVM arrived and runs");
  };
  hooks.failed = [this](const std::string& error) {
    std::fprintf(stderr, "hearth: error: migration: %s\n", error.c_str());
    migration_exit_ = 1;
    if (vmm_) vmm_->stop(1);
    loop_.stop();
  };
  incoming_ = std::make_unique<migration::Destination>(loop_, options, request, std::move(hooks));
  return {};
}

api::Result<> VmController::send_vm(const MigrationSendRequest& request, std::function<void(api::Result<>)> done) {
  migration::Source::Params params;
  params.request = request;
  params.vm_config = api::to_json(config());
  params.hearth_version = std::string(kVersion);
  outgoing_ = std::make_unique<migration::Source>(loop_, *vmm_, params, [this, done](migration::Outcome outcome) {
    last_migration_ = outgoing_->status();
    set_migrating(false);
    switch (outcome) {
      case migration::Outcome::kCompleted:
        SPDLOG_INFO("migration: the microVM runs on the destination; exiting");
        vmm_->stop(0);
        migration_exit_ = 0;
        done({});
        loop_.stop();
        break;
      case migration::Outcome::kFailedResumed:
        SPDLOG_WARN("migration failed, the microVM runs here: {}", last_migration_.error);
        done(api::bad_request("migration failed: " + last_migration_.error));
        break;
      case migration::Outcome::kFailedLost:
        SPDLOG_ERROR("migration failed after the destination ran: {}", last_migration_.error);
        vm_lost_ = true;
        done(api::bad_request("migration failed: " + last_migration_.error));
        break;
    }
  });
  return {};
}

MigrationStatus VmController::migration_progress() const {
  if (outgoing_ && outgoing_->running()) return outgoing_->status();
  if (incoming_) return incoming_->status();
  return last_migration_;
}

void VmController::collect_metrics() const {
  if (!vmm_) return;
  auto& registry = metrics::global();
  for (const auto& [reason, count] : vmm_->vcpu_exit_counts()) export_counter(registry, "vcpu.exit." + reason, count);
  vmm_->export_device_metrics(registry);
}

}  // namespace hearth
