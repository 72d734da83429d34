#pragma once
// One microVM: KVM VM, guest memory, devices and vCPU threads, built from a VmConfig.
// Lives on the VMM thread; vCPU threads report back through the event loop.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "devices/bus.h"
#include "vmm/arch/cpu_state.h"
#include "devices/model/device.h"
#include "vmm/base/eventfd.h"
#include "vmm/config/lifecycle.h"
#include "vmm/config/vm_config.h"
#include "vmm/base/event_loop.h"
#include "vmm/core/guest_loader.h"
#include "vmm/core/vcpu_thread.h"
#include "vmm/core/vcpu_throttle.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/metrics/registry.h"

namespace hearth {

class Uart16550;
class I8042;
class BootTimer;
class SerialConsole;
class DeviceManager;
namespace virtio {
class VirtioDevice;
}
namespace virtio::blk {
class BlkDevice;
}
namespace virtio::mmio {
class MmioTransport;
}
namespace virtio::net::mmds {
class Service;
}

struct VmmOptions {
  std::string kvm_path = "/dev/kvm";
  bool boot_timer = false;    // log the time from start to the guest's boot-complete write
  int console_in_fd = 0;      // serial input; -1 for none
  int console_out_fd = 1;     // serial output
  // The VM's metadata service (PUT /mmds/config), shared with the network devices; may be null.
  std::shared_ptr<virtio::net::mmds::Service> mmds;
};


// KVM's part of a paused VM: in-kernel irqchip, PIT and clock, and every vCPU.
struct MachineState {
  arch::KvmVmState vm;
  std::vector<arch::VcpuState> vcpus;
};

void to_json(nlohmann::json& j, const MachineState& s);
void from_json(const nlohmann::json& j, MachineState& s);

// A paused VM's state apart from its memory: KVM's and every device's.
struct SavedState {
  MachineState machine;
  std::vector<DeviceState> devices;
};

// Everything needed to build a VM again without its kernel: KVM's state, every device's state and
// the guest memory, one byte vector per RAM region. Taken from a paused VM.
struct VmSnapshot {
  MachineState machine;
  std::vector<DeviceState> devices;
  std::vector<std::vector<uint8_t>> memory;
};

class Vmm {
 public:
  // The builder's two entry points. from_config boots: it loads the kernel and sets up the boot CPU
  // (nothing runs until start()). from_state rebuilds the devices of `config`, fills memory from the
  // snapshot and restores every vCPU and device; the VM is Paused and runs on resume(). Both throw
  // Error naming the problem.
  static std::unique_ptr<Vmm> from_config(const VmConfig& config, const VmmOptions& options, EventLoop& loop);
  static std::unique_ptr<Vmm> from_state(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                         const VmSnapshot& snapshot);
  // The same over memory the caller has built (a snapshot's memory file mapped, or a userfaultfd-backed
  // mapping); its regions must be ram_ranges(config), or Error names the difference.
  static std::unique_ptr<Vmm> from_state(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                         const SavedState& state, GuestMemory memory);
  // Live migration's destination: the VM of `config` over `memory` (which the stream fills), with every
  // device but no kernel loaded; restore_incoming() then applies the source's state and leaves it Paused.
  static std::unique_ptr<Vmm> for_incoming(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                           GuestMemory memory);
  void restore_incoming(const SavedState& state);
  // The guest RAM regions a config gives (below and above the MMIO gap).
  static std::vector<GuestRange> ram_ranges(const VmConfig& config);
  // Fresh anonymous guest RAM of ram_ranges(config), backed as machine-config.huge_pages says.
  static GuestMemory anonymous_memory(const VmConfig& config);
  // from_config, as a constructor.
  Vmm(const VmConfig& config, const VmmOptions& options, EventLoop& loop);
  ~Vmm();
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;

  void start();
  void pause();
  void resume();
  void send_ctrl_alt_del();
  // Both need a paused VM; restore takes a state saved from a VM of the same shape.
  MachineState save_machine_state();
  void restore_machine_state(const MachineState& state);
  // With machine-config.track_dirty_pages: for each memory region, a bit per 4 KiB page written since
  // the previous call (the first call reports everything written since boot).
  // Thread-safe (the migration thread reads it while vCPUs run).
  std::vector<std::vector<uint64_t>> take_dirty_bitmaps();
  // Live migration: dirty logging from now on (KVM's log and the VMM's own writes), whatever the config
  // says; stop returns to machine-config.track_dirty_pages. VMM thread.
  void start_dirty_logging();
  void stop_dirty_logging();
  // Auto-converge: percent (0..99) of vCPU time kept out of KVM_RUN.
  void set_vcpu_throttle(unsigned percent);
  unsigned vcpu_throttle() const;
  // Machine state, device states and a copy of guest memory of a paused VM.
  VmSnapshot snapshot();
  // Machine and device states of a paused VM (memory stays in memory()).
  SavedState save_state();
  const VmConfig& config() const { return config_; }
  // Stops vCPUs; `exit_code` is what the process should return.
  void stop(int exit_code);

  VmState state() const { return state_; }
  // Set once the guest has stopped (reset, shutdown, failure) or stop() was called.
  std::optional<int> exit_code() const { return exit_code_; }
  // The process is about to exit: the destructor leaves the KVM VM to exit_group (see kvm::Vm).
  void leave_vm_to_process_exit() { leave_vm_to_exit_ = true; }
  const std::string& stop_reason() const { return stop_reason_; }
  const GuestMemory& memory() const { return memory_; }
  const std::vector<std::shared_ptr<virtio::blk::BlkDevice>>& drives() const { return drives_; }
  std::optional<std::chrono::steady_clock::duration> boot_time() const;
  // Every device's counters, through the device manager.
  void export_device_metrics(metrics::Registry& registry) const;
  // Every device's state in placement order (paused VM); restore into a VM built from the same config.
  std::vector<DeviceState> save_devices() const;
  void restore_devices(const std::vector<DeviceState>& states);
  // The runtime API of a device built from a registry kind (section name, instance id: empty for a
  // single-instance kind), on the VMM thread. Throw Error when there is no such device or it refuses.
  void patch_device(std::string_view kind, std::string_view id, std::string_view sub, const nlohmann::json& patch);
  nlohmann::json get_device(std::string_view kind, std::string_view id, std::string_view sub) const;
  // Sum of the exit counters over all vCPUs: {reason, count}.
  std::vector<std::pair<std::string, uint64_t>> vcpu_exit_counts() const;

 private:
  // Moves the lifecycle on by `event`, or throws Error(`refusal`) when it does not allow it.
  void advance(VmEvent event, const char* refusal);
  Vmm(const VmConfig& config, const VmmOptions& options, EventLoop& loop, const SavedState* state,
      std::optional<GuestMemory> memory, bool incoming = false);
  static void check_memory_shape(const VmConfig& config, const GuestMemory& memory);
  void register_memory(bool log_dirty);
  void restore_from(const SavedState& state);
  void create_vm();
  void create_devices();
  void create_virtio_devices();
  // Devices other than drives, each present when its config section is.
  void add_optional_virtio_devices();
  void load_guest();
  void create_vcpus();
  void on_guest_stop(GuestStop why, const std::string& detail);
  void handle_guest_stop();

  VmConfig config_;
  VmmOptions options_;
  EventLoop& loop_;
  std::chrono::steady_clock::time_point created_at_;

  kvm::Kvm kvm_;
  std::optional<kvm::Vm> vm_;
  GuestMemory memory_;
  std::jthread pit_reinject_off_;  // after vm_, which it uses: a failed build joins it before vm_ closes
  Bus pio_bus_{"pio"};
  Bus mmio_bus_{"mmio"};

  std::shared_ptr<Uart16550> serial_;
  std::shared_ptr<I8042> i8042_;
  std::shared_ptr<BootTimer> boot_timer_;
  std::unique_ptr<SerialConsole> console_;
  std::unique_ptr<DeviceManager> devices_;  // every device, its transport, IRQ lines and windows
  std::vector<std::shared_ptr<virtio::blk::BlkDevice>> drives_;
  struct KindDevice {
    std::string kind;  // section name
    std::string id;    // instance id
    std::shared_ptr<Device> device;
  };
  std::vector<KindDevice> kind_devices_;  // devices built from registry kinds, for the runtime API
  Device& kind_device(std::string_view kind, std::string_view id) const;
  std::vector<std::string> extra_cmdline_;

  BootEntry boot_entry_;
  std::vector<uint32_t> saved_msrs_;  // found on the first save
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;
  std::unique_ptr<VcpuThrottle> throttle_;  // after vcpus_: its ticker stops before they are joined
  std::atomic<bool> dirty_logging_{false};
  bool vcpus_started_ = false;
  bool leave_vm_to_exit_ = false;
  VmState state_ = VmState::kNotStarted;

  // vCPU threads post guest stops here; the VMM thread acts on them.
  EventFd guest_stop_event_;
  std::mutex stop_mutex_;
  std::optional<std::pair<GuestStop, std::string>> pending_stop_;
  std::optional<int> exit_code_;
  std::string stop_reason_;
};

}  // namespace hearth
