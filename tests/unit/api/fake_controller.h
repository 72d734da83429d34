#pragma once
// A Controller that records each call and its typed argument, and fails on demand.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/controller.h"

namespace hearth::api::testing {

struct FakeController : Controller {
  std::vector<std::string> calls;
  std::optional<Fault> fail;  // returned by every operation when set
  std::optional<BootSourceConfig> boot;
  std::optional<MachineConfig> machine;
  std::optional<MachineConfigPatch> machine_patch;
  std::optional<DriveConfig> drive;
  std::optional<DrivePatch> drive_patch;
  std::optional<LoggerConfig> logger;
  std::optional<MetricsConfig> metrics;
  std::optional<SerialConfig> serial;
  std::map<std::string, nlohmann::json> device_sections;
  struct DevicePatch {
    std::string name, id, sub;
    nlohmann::json patch;
  };
  std::vector<DevicePatch> device_patches;
  VmConfig vm;
  std::optional<SnapshotCreateRequest> snapshot_create;
  std::optional<SnapshotLoadRequest> snapshot_load;
  std::optional<MigrationReceiveRequest> migration_receive;
  std::optional<MigrationSendRequest> migration_send;
  std::function<void(Result<>)> migration_done;
  MigrationStatus migration;

  Result<> done(std::string name) {
    calls.push_back(std::move(name));
    if (fail) return *fail;
    return {};
  }
  template <typename T>
  Result<T> value(std::string name, T v) {
    calls.push_back(std::move(name));
    if (fail) return *fail;
    return v;
  }

  Result<InstanceInfo> describe_instance() override {
    InstanceInfo i;
    i.vmm_version = "0.1.0";
    return value("describe_instance", i);
  }
  Result<VmConfig> get_vm_config() override { return value("get_vm_config", vm); }
  Result<MachineConfig> get_machine_config() override {
    return value("get_machine_config", vm.machine);
  }
  Result<> put_boot_source(const BootSourceConfig& b) override { boot = b; return done("put_boot_source"); }
  Result<> put_machine_config(const MachineConfig& m) override { machine = m; return done("put_machine_config"); }
  Result<> patch_machine_config(const MachineConfigPatch& p) override { machine_patch = p; return done("patch_machine_config"); }
  Result<> put_drive(const DriveConfig& d) override { drive = d; return done("put_drive"); }
  Result<> patch_drive(const DrivePatch& p) override { drive_patch = p; return done("patch_drive"); }
  Result<> put_logger(const LoggerConfig& l) override { logger = l; return done("put_logger"); }
  Result<> put_metrics(const MetricsConfig& m) override { metrics = m; return done("put_metrics"); }
  Result<> put_serial(const SerialConfig& s) override { serial = s; return done("put_serial"); }
  Result<> put_device_section(std::string_view section, const nlohmann::json& body) override {
    device_sections[std::string(section)] = body;
    return done("put_device_section");
  }
  Result<> patch_device(std::string_view name, std::string_view id, std::string_view sub,
                        const nlohmann::json& patch) override {
    device_patches.push_back({std::string(name), std::string(id), std::string(sub), patch});
    return done("patch_device");
  }
  Result<nlohmann::json> get_device(std::string_view name, std::string_view id, std::string_view sub) override {
    calls.push_back("get_device");
    return nlohmann::json{{"name", name}, {"id", id}, {"sub", sub}};
  }
  Result<> instance_start() override { return done("instance_start"); }
  Result<> send_ctrl_alt_del() override { return done("send_ctrl_alt_del"); }
  Result<> flush_metrics() override { return done("flush_metrics"); }
  Result<> pause() override { return done("pause"); }
  Result<> resume() override { return done("resume"); }
  Result<> create_snapshot(const SnapshotCreateRequest& r) override {
    snapshot_create = r;
    return done("create_snapshot");
  }
  Result<> load_snapshot(const SnapshotLoadRequest& r) override {
    snapshot_load = r;
    return done("load_snapshot");
  }
  Result<> migrate_receive(const MigrationReceiveRequest& r) override {
    migration_receive = r;
    return done("migrate_receive");
  }
  // Keeps `done` for the test to call: the response of PUT /migration/send waits for it.
  Result<> migrate_send(const MigrationSendRequest& r, std::function<void(Result<>)> finished) override {
    migration_send = r;
    migration_done = std::move(finished);
    return done("migrate_send");
  }
  Result<MigrationStatus> migration_status() override { return value("migration_status", migration); }
};

}  // namespace hearth::api::testing
