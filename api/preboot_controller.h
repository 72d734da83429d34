#pragma once
// The configuration half of a Controller: keeps the VmConfig, validates PUT/PATCH bodies against
// the host (paths exist) and the rest of the config (one root drive), and refuses pre-boot-only
// operations after boot. A VMM derives from it and adds the runtime hooks below.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/controller.h"
#include "vmm/base/fd.h"
#include "vmm/config/lifecycle.h"
#include "vmm/metrics/registry.h"
#include "vmm/metrics/sink.h"

namespace hearth::api {

class PrebootConfigController : public Controller {
 public:
  using VmState = hearth::VmState;

  explicit PrebootConfigController(std::string vmm_version, VmConfig initial = {},
                                   metrics::Registry& registry = metrics::global());
  ~PrebootConfigController() override;

  Result<InstanceInfo> describe_instance() override;
  Result<VmConfig> get_vm_config() override;
  Result<MachineConfig> get_machine_config() override;

  Result<> put_boot_source(const BootSourceConfig& boot) override;
  Result<> put_machine_config(const MachineConfig& machine) override;
  Result<> patch_machine_config(const MachineConfigPatch& patch) override;
  Result<> put_drive(const DriveConfig& drive) override;
  Result<> patch_drive(const DrivePatch& patch) override;
  Result<> put_logger(const LoggerConfig& logger) override;
  Result<> put_metrics(const MetricsConfig& metrics) override;
  Result<> put_serial(const SerialConfig& serial) override;
  Result<> put_device_section(std::string_view name, const nlohmann::json& section) override;
  Result<> patch_device(std::string_view name, std::string_view id, std::string_view sub,
                        const nlohmann::json& patch) override;
  Result<nlohmann::json> get_device(std::string_view name, std::string_view id, std::string_view sub) override;
  Result<> put_cpu_config(const CustomCpuTemplate& t) override;
  // Checks the interfaces exist and keeps the configuration; the data store is the VMM's (VmController).
  Result<> put_mmds_config(const MmdsConfigSpec& config) override;

  Result<> instance_start() override;
  Result<> send_ctrl_alt_del() override;
  Result<> flush_metrics() override;
  Result<> pause() override;
  Result<> resume() override;
  Result<> create_snapshot(const SnapshotCreateRequest& request) override;
  Result<> load_snapshot(const SnapshotLoadRequest& request) override;
  Result<> migrate_receive(const MigrationReceiveRequest& request) override;
  Result<> migrate_send(const MigrationSendRequest& request, std::function<void(Result<>)> done) override;
  Result<MigrationStatus> migration_status() override;

  const VmConfig& config() const { return config_; }
  const std::optional<SerialConfig>& serial() const { return serial_; }
  // The serial output file opened by PUT /serial (-1 when none): the guest console's stdout.
  int serial_out_fd() const { return serial_out_.get(); }
  VmState state() const { return state_; }

 protected:
  // The instance id a metrics line carries when metrics.emit_id is set.
  void set_metrics_instance_id(std::string id) { metrics_instance_id_ = std::move(id); }
  // Runtime hooks, called on the VMM thread only when the state allows them. A hook may return
  // a Fault or throw hearth::Error (which becomes a 400).
  virtual Result<> start_vm(const VmConfig& config) = 0;
  virtual Result<> pause_vm() = 0;
  virtual Result<> resume_vm() = 0;
  virtual Result<> ctrl_alt_del() = 0;
  // PATCH /drives after boot (new backing file or rate limiter); unsupported by default.
  virtual Result<> update_drive(const DrivePatch& patch);
  // The runtime API of a registry kind's device after boot (Device::api_patch / api_get); unsupported
  // by default.
  virtual Result<> update_device(std::string_view name, std::string_view id, std::string_view sub,
                                 const nlohmann::json& patch);
  virtual Result<nlohmann::json> query_device(std::string_view name, std::string_view id, std::string_view sub);
  // Snapshots; unsupported by default. restore_vm builds a paused VM and returns its configuration.
  virtual Result<> snapshot_vm(const SnapshotCreateRequest& request);
  virtual Result<VmConfig> restore_vm(const SnapshotLoadRequest& request);
  // Live migration; unsupported by default. receive_vm starts listening (the VM arrives later: then
  // adopt_migrated_vm); send_vm starts sending a Running or Paused VM.
  virtual Result<> receive_vm(const MigrationReceiveRequest& request);
  virtual Result<> send_vm(const MigrationSendRequest& request, std::function<void(Result<>)> done);
  virtual MigrationStatus migration_progress() const { return {}; }
  // The destination's VM arrived and runs: its configuration (logger, metrics and serial stay this
  // process's) becomes this controller's.
  void adopt_migrated_vm(VmConfig config);
  // Set while a migration is in flight: configuration, pause/resume and snapshots wait for it.
  void set_migrating(bool migrating) { migrating_ = migrating; }
  bool migrating() const { return migrating_; }

 private:
  std::string metrics_instance_id_;
  // Runs `f` unless the VM has booted; Error from `f` becomes a 400 fault. A configuring operation that
  // succeeds is remembered: a snapshot can then no longer be loaded (logger, metrics and serial are not).
  Result<nlohmann::json> device_instance(std::string_view name, std::string_view id) const;
  template <typename F>
  Result<> preboot(std::string_view operation, F&& f, bool configures = true);

  std::string vmm_version_;
  VmConfig config_;
  std::optional<SerialConfig> serial_;
  UniqueFd serial_out_;
  VmState state_ = VmState::kNotStarted;
  std::string configured_by_;
  bool migrating_ = false;  // the first configuring operation ("PUT /boot-source"); empty while fresh
  metrics::Registry& registry_;
  std::unique_ptr<metrics::LineSink> metrics_sink_;
};

}  // namespace hearth::api
