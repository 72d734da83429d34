#pragma once
// The API's Controller for a real microVM: the pre-boot configuration rules come from
// api::PrebootConfigController; this adds building, starting and driving the Vmm.
#include <memory>
#include <optional>

#include "api/preboot_controller.h"
#include "vmm/base/fd.h"
#include "vmm/base/event_loop.h"
#include "vmm/core/vmm.h"
#include "vmm/memory/uffd.h"
#include "vmm/migration/destination.h"
#include "vmm/migration/source.h"

namespace hearth {

class VmController final : public api::PrebootConfigController {
 public:
  VmController(EventLoop& loop, VmmOptions options, VmConfig initial, std::string instance_id);

  api::Result<api::InstanceInfo> describe_instance() override;
  // Applies the new logger at once (PUT /logger).
  api::Result<> put_logger(const LoggerConfig& logger) override;
  // Refused once a post-copy migration failed after the hand-over: this copy of the VM is stale.
  api::Result<> resume() override;

  // The MMDS data store (options.mmds), before and after boot; refused when there is no service.
  api::Result<> put_mmds(const nlohmann::json& data) override;
  api::Result<> patch_mmds(const nlohmann::json& patch) override;
  api::Result<nlohmann::json> get_mmds() override;

  Vmm* vmm() const { return vmm_.get(); }
  // Copies device and vCPU counters into the metrics registry (before a flush or a scrape).
  void collect_metrics() const;
  // Set when this process should end now that its VM has moved (source) or could not arrive or
  // continue (destination): the exit status.
  std::optional<int> migration_exit() const { return migration_exit_; }

 protected:
  api::Result<> start_vm(const VmConfig& config) override;
  api::Result<> pause_vm() override;
  api::Result<> resume_vm() override;
  api::Result<> ctrl_alt_del() override;
  api::Result<> update_drive(const api::DrivePatch& patch) override;
  api::Result<> update_device(std::string_view name, std::string_view id, std::string_view sub,
                              const nlohmann::json& patch) override;
  api::Result<nlohmann::json> query_device(std::string_view name, std::string_view id, std::string_view sub) override;
  api::Result<> snapshot_vm(const api::SnapshotCreateRequest& request) override;
  api::Result<VmConfig> restore_vm(const api::SnapshotLoadRequest& request) override;
  api::Result<> receive_vm(const MigrationReceiveRequest& request) override;
  api::Result<> send_vm(const MigrationSendRequest& request, std::function<void(api::Result<>)> done) override;
  MigrationStatus migration_progress() const override;

 private:
  // Hands the configuration's mmds-config to the service before devices are built.
  void configure_mmds(const VmConfig& config);
  template <typename F>
  api::Result<> with_mmds(F&& f);

  EventLoop& loop_;
  VmmOptions options_;
  std::string instance_id_;
  UffdBackend uffd_;  // backs a restored VM's memory (Uffd backend): declared first, so it outlives vmm_
  std::unique_ptr<Vmm> vmm_;
  // After vmm_: their threads use its memory, so they stop first.
  std::unique_ptr<migration::Destination> incoming_;
  std::unique_ptr<migration::Source> outgoing_;
  MigrationStatus last_migration_;  // once the source has finished
  bool vm_lost_ = false;            // a post-copy failure: this copy must not run again
  std::optional<int> migration_exit_;
};

}  // namespace hearth
