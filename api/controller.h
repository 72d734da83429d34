#pragma once
// The typed operations of the REST API. The API thread parses and validates HTTP+JSON, then one
// of these methods runs on the VMM thread (through RequestQueue). Implementations never throw to
// the caller: failures come back as a Fault.
#include <functional>
#include <string>

#include "api/config_json.h"
#include "api/result.h"
#include "api/snapshot_json.h"
#include "vmm/config/migration.h"
#include "vmm/config/vm_config.h"

namespace hearth::api {

// GET / (Firecracker's InstanceInfo).
struct InstanceInfo {
  std::string id = "anonymous-instance";
  std::string state = "Not started";  // "Not started" | "Running" | "Paused"
  std::string vmm_version;
  std::string app_name = "Hearth";
};

// PUT /serial: where the guest's serial output goes.
struct SerialConfig {
  std::string serial_out_path;
};

class Controller {
 public:
  virtual ~Controller() = default;

  virtual Result<InstanceInfo> describe_instance() = 0;
  virtual Result<VmConfig> get_vm_config() = 0;
  virtual Result<MachineConfig> get_machine_config() = 0;

  virtual Result<> put_boot_source(const BootSourceConfig& boot) = 0;
  virtual Result<> put_machine_config(const MachineConfig& machine) = 0;
  virtual Result<> patch_machine_config(const MachineConfigPatch& patch) = 0;
  virtual Result<> put_drive(const DriveConfig& drive) = 0;
  virtual Result<> patch_drive(const DrivePatch& patch) = 0;
  virtual Result<> put_logger(const LoggerConfig& logger) = 0;
  virtual Result<> put_metrics(const MetricsConfig& metrics) = 0;
  virtual Result<> put_serial(const SerialConfig& serial) = 0;
  // PUT /<section> for a device kind of the registry (vmm/config/device_kind.h), before boot; `section`
  // is the body as the kind's validate() returned it.
  // For a multi-instance kind `section` is one instance, added or replacing the one with its id.
  virtual Result<> put_device_section(std::string_view name, const nlohmann::json& section) = 0;
  // PATCH and GET /<name>[/<id>][/<sub>] of a registry kind; `id` is empty for a single-instance kind,
  // `sub` empty for the resource itself, `patch` as the kind's validate_patch() returned it.
  virtual Result<> patch_device(std::string_view name, std::string_view id, std::string_view sub,
                                const nlohmann::json& patch) = 0;
  virtual Result<nlohmann::json> get_device(std::string_view name, std::string_view id, std::string_view sub) = 0;
  // PUT /cpu-config, before boot. Not pure: controllers without CPU templates keep refusing it.
  virtual Result<> put_cpu_config(const CustomCpuTemplate&) { return bad_request("cpu-config is not supported"); }
  // MMDS: PUT /mmds/config before boot; the data store (PUT, PATCH as RFC 7396, GET) before and after.
  // Not pure: controllers without a metadata service keep refusing them.
  virtual Result<> put_mmds_config(const MmdsConfigSpec&) { return bad_request("mmds is not supported"); }
  virtual Result<> put_mmds(const nlohmann::json&) { return bad_request("mmds is not supported"); }
  virtual Result<> patch_mmds(const nlohmann::json&) { return bad_request("mmds is not supported"); }
  virtual Result<nlohmann::json> get_mmds() { return bad_request("mmds is not supported"); }

  virtual Result<> instance_start() = 0;
  virtual Result<> send_ctrl_alt_del() = 0;
  virtual Result<> flush_metrics() = 0;
  virtual Result<> pause() = 0;
  virtual Result<> resume() = 0;
  // PUT /snapshot/create on a paused VM; PUT /snapshot/load in a fresh process, before any configuration.
  virtual Result<> create_snapshot(const SnapshotCreateRequest& request) = 0;
  virtual Result<> load_snapshot(const SnapshotLoadRequest& request) = 0;
  // Live migration (Hearth extension). receive: a fresh process listens and takes the VM from the stream.
  // send: a fault now if it cannot start; otherwise `done` runs on the VMM thread when the VM runs on the
  // destination (ok) or the migration failed (the VM runs here again).
  virtual Result<> migrate_receive(const MigrationReceiveRequest& request) = 0;
  virtual Result<> migrate_send(const MigrationSendRequest& request, std::function<void(Result<>)> done) = 0;
  virtual Result<MigrationStatus> migration_status() = 0;
};

}  // namespace hearth::api
