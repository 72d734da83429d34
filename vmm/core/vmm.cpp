#include "vmm/core/vmm.h"

#include "vmm/arch/cpu_state_json.h"
#include "vmm/device_manager/device_kinds.h"
#include "vmm/device_manager/device_manager.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "devices/boot_timer/boot_timer.h"
#include "devices/i8042/i8042.h"
#include "devices/serial/uart16550.h"
#include "vmm/arch/boot_cpu.h"
#include "vmm/arch/cpu_template.h"
#include "vmm/arch/cpuid.h"
#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/core/guest_loader.h"
#include "vmm/core/irqfd_line.h"
#include "vmm/core/serial_console.h"
#include "virtio/blk/device.h"
#include "virtio/mmio/transport.h"

namespace hearth {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

void validate(const VmConfig& config) {
  if (!config.boot_source) throw Error("boot-source: no kernel configured (kernel_image_path is required)");
  const auto& m = config.machine;
  if (m.vcpu_count < 1 || m.vcpu_count > layout::kMaxVcpus) {
    throw Error(fmt::format("machine-config.vcpu_count: must be between 1 and {}, got {}", layout::kMaxVcpus, m.vcpu_count));
  }
  if (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2) {
    throw Error("machine-config.vcpu_count: must be 1 or even when smt is enabled");
  }
  check_virtio_device_count(config, "drives");
  if (m.mem_size_mib < kMinMemSizeMib) {
    throw Error(fmt::format("machine-config.mem_size_mib: must be at least {}, got {}", kMinMemSizeMib, m.mem_size_mib));
  }
}

}  // namespace

void to_json(nlohmann::json& j, const MachineState& s) { j = {{"vm", s.vm}, {"vcpus", s.vcpus}}; }

void from_json(const nlohmann::json& j, MachineState& s) {
  if (!j.is_object() || !j.contains("vm") || !j.contains("vcpus") || !j["vcpus"].is_array()) {
    throw Error("machine state: expected {vm, vcpus}");
  }
  s.vm = j["vm"].get<arch::KvmVmState>();
  s.vcpus = j["vcpus"].get<std::vector<arch::VcpuState>>();
}

std::vector<GuestRange> Vmm::ram_ranges(const VmConfig& config) {
  const auto ram = layout::ram_layout(uint64_t{config.machine.mem_size_mib} * kMiB);
  std::vector<GuestRange> ranges{{0, ram.low_size}};
  if (ram.high_size) ranges.push_back({layout::kHighRamStart, ram.high_size});
  return ranges;
}

GuestMemory Vmm::anonymous_memory(const VmConfig& config) {
  switch (config.machine.huge_pages) {
    case HugePages::kNone: break;
    case HugePages::kTransparent: return GuestMemory::create_anonymous(ram_ranges(config), AnonymousPages::kTransparentHuge);
    case HugePages::k2M: return GuestMemory::create_anonymous(ram_ranges(config), AnonymousPages::kHugetlb2M);
  }
  return GuestMemory::create_anonymous(ram_ranges(config));
}

std::unique_ptr<Vmm> Vmm::from_config(const VmConfig& config, const VmmOptions& options, EventLoop& loop) {
  return std::unique_ptr<Vmm>(new Vmm(config, options, loop, nullptr, std::nullopt));
}

std::unique_ptr<Vmm> Vmm::from_state(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                     const VmSnapshot& snapshot) {
  const auto ranges = ram_ranges(config);
  if (snapshot.memory.size() != ranges.size()) {
    throw Error(fmt::format("snapshot has {} memory regions, machine-config gives {}", snapshot.memory.size(),
                            ranges.size()));
  }
  GuestMemory memory = anonymous_memory(config);
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (snapshot.memory[i].size() != ranges[i].size) {
      throw Error(fmt::format("snapshot memory region {} is {} bytes, machine-config gives {}", i,
                              snapshot.memory[i].size(), ranges[i].size));
    }
    memory.write(ranges[i].start, snapshot.memory[i]);
  }
  const SavedState state{snapshot.machine, snapshot.devices};
  return from_state(config, options, loop, state, std::move(memory));
}

std::unique_ptr<Vmm> Vmm::from_state(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                     const SavedState& state, GuestMemory memory) {
  check_memory_shape(config, memory);
  return std::unique_ptr<Vmm>(new Vmm(config, options, loop, &state, std::move(memory)));
}

void Vmm::check_memory_shape(const VmConfig& config, const GuestMemory& memory) {
  const auto ranges = ram_ranges(config);
  const auto& regions = memory.regions();
  bool same = regions.size() == ranges.size();
  for (size_t i = 0; same && i < ranges.size(); ++i) {
    same = regions[i].range.start == ranges[i].start && regions[i].range.size == ranges[i].size;
  }
  if (!same) {
    throw Error(fmt::format("the snapshot's memory ({} bytes in {} regions) does not match machine-config.mem_size_mib {}",
                            memory.total_size(), regions.size(), config.machine.mem_size_mib));
  }
}

Vmm::Vmm(const VmConfig& config, const VmmOptions& options, EventLoop& loop)
    : Vmm(config, options, loop, nullptr, std::nullopt) {}

std::unique_ptr<Vmm> Vmm::for_incoming(const VmConfig& config, const VmmOptions& options, EventLoop& loop,
                                       GuestMemory memory) {
  check_memory_shape(config, memory);
  return std::unique_ptr<Vmm>(new Vmm(config, options, loop, nullptr, std::move(memory), true));
}

void Vmm::restore_incoming(const SavedState& state) {
  restore_from(state);
}

Vmm::Vmm(const VmConfig& config, const VmmOptions& options, EventLoop& loop, const SavedState* state,
         std::optional<GuestMemory> memory, bool incoming)
    : config_(config),
      options_(options),
      loop_(loop),
      created_at_(std::chrono::steady_clock::now()),
      kvm_((validate(config), options.kvm_path)),
      memory_(memory ? std::move(*memory) : anonymous_memory(config)) {
  create_vm();
  create_devices();
  if (!state && !incoming) load_guest();
  create_vcpus();
  if (state) restore_from(*state);
  loop_.add(guest_stop_event_.fd(), EPOLLIN, [this](uint32_t) {
    guest_stop_event_.consume();
    handle_guest_stop();
  });
}

Vmm::~Vmm() {
  throttle_.reset();  // its ticker kicks the vCPU threads
  for (auto& v : vcpus_) v->request_stop();
  vcpus_.clear();  // joins
  loop_.remove(guest_stop_event_.fd());
  if (pit_reinject_off_.joinable()) pit_reinject_off_.join();
  if (vm_ && leave_vm_to_exit_) vm_->leave_open_until_exit();
}

void Vmm::create_vm() {
  vm_.emplace(kvm_.create_vm());
  // Intel VMX needs these pages for real-mode emulation; they sit in the MMIO gap, clear of devices.
  vm_->set_identity_map_addr(layout::kIdentityMapAddr);
  vm_->set_tss_addr(layout::kTssAddr);
  vm_->create_irqchip();
  vm_->create_pit2();
  // Off the critical path: nothing needs it before the guest runs (a guest PIT access just waits for it),
  // and with it done, exit takes ~1 ms instead of 15-23 (bench/kvm_floor_probe.cpp, docs/benchmarks.md).
  pit_reinject_off_ = std::jthread([vm = &*vm_] {
    ::pthread_setname_np(::pthread_self(), "fc_vmm_pit");
    try {
      vm->disable_pit_reinject();
    } catch (const std::exception& e) {
      SPDLOG_WARN("PIT tick re-injection stays on: {}", e.what());
    }
  });
  vm_->enable_manual_dirty_protect();  // before any slot logs dirty pages
  register_memory(config_.machine.track_dirty_pages);
}

// Dirty logging costs write-protection faults, so only when asked (snapshots, and during a migration).
// KVM logs only guest CPU writes; the VMM's own (rings, disk reads) are tracked by GuestMemory.
void Vmm::register_memory(bool log_dirty) {
  const uint32_t flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  if (log_dirty) memory_.enable_dirty_tracking();
  uint32_t slot = 0;
  for (const auto& region : memory_.regions()) {
    vm_->set_user_memory_region(slot++, region.range.start, region.range.size, region.mapping.data(), flags);
  }
  if (!log_dirty) memory_.disable_dirty_tracking();
  dirty_logging_ = log_dirty;
}

void Vmm::start_dirty_logging() {
  if (dirty_logging_) return;
  register_memory(true);
}

void Vmm::stop_dirty_logging() {
  if (!dirty_logging_ || config_.machine.track_dirty_pages) return;
  register_memory(false);
}

void Vmm::set_vcpu_throttle(unsigned percent) {
  if (!throttle_) {
    std::vector<VcpuThread*> threads;
    for (auto& v : vcpus_) threads.push_back(v.get());
    throttle_ = std::make_unique<VcpuThrottle>(std::move(threads));
  }
  throttle_->set(percent);
}

unsigned Vmm::vcpu_throttle() const { return throttle_ ? throttle_->percent() : 0; }

void Vmm::create_devices() {
  devices_ = std::make_unique<DeviceManager>(*vm_, memory_, mmio_bus_, loop_);
  auto serial_irq = devices_->irq_line(layout::kSerialIrq);
  const int out_fd = options_.console_out_fd;
  serial_ = std::make_shared<Uart16550>(serial_irq, [out_fd](std::span<const uint8_t> bytes) {
    if (out_fd >= 0) SerialConsole::write_all(out_fd, bytes);
  });
  pio_bus_.insert(serial_, layout::kSerialPort, Uart16550::kRegisterCount);
  devices_->add_legacy(serial_, "uart.");

  auto kbd_irq = devices_->irq_line(layout::kI8042Irq);
  i8042_ = std::make_shared<I8042>(kbd_irq, [this] { on_guest_stop(GuestStop::kReset, "guest reset through the i8042"); });
  pio_bus_.insert(I8042::data_port(i8042_), layout::kI8042DataPort, 1);
  pio_bus_.insert(I8042::command_port(i8042_), layout::kI8042CommandPort, 1);
  devices_->add_legacy(i8042_);

  const bool log_boot_time = options_.boot_timer;
  boot_timer_ = std::make_shared<BootTimer>(created_at_, [log_boot_time](BootTimer::Clock::duration d) {
    if (log_boot_time) {
      SPDLOG_INFO("Guest-boot-time = {} us ({} ms)", std::chrono::duration_cast<std::chrono::microseconds>(d).count(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
  });
  mmio_bus_.insert(boot_timer_, layout::kBootTimerAddr, layout::kMmioWindowSize);
  devices_->add_legacy(boot_timer_);

  console_ = std::make_unique<SerialConsole>(loop_, options_.console_in_fd, serial_);
  create_virtio_devices();
}

void Vmm::create_virtio_devices() {
  // The root device comes first so that it is /dev/vda, as Firecracker does.
  std::vector<DriveConfig> drives = config_.drives;
  std::stable_partition(drives.begin(), drives.end(), [](const DriveConfig& d) { return d.is_root_device; });
  for (const auto& drive : drives) {
    auto blk = std::make_shared<virtio::blk::BlkDevice>(drive, &loop_);
    drives_.push_back(blk);
    devices_->add_virtio(blk, "block." + drive.drive_id + ".");
    if (drive.is_root_device) {
      extra_cmdline_.push_back(drive.partuuid ? "root=PARTUUID=" + *drive.partuuid : "root=/dev/vda");
      extra_cmdline_.push_back(drive.is_read_only ? "ro" : "rw");
    }
  }
  add_optional_virtio_devices();
  for (auto& part : devices_->cmdline_parts()) extra_cmdline_.push_back(std::move(part));
}

void Vmm::add_optional_virtio_devices() {
  for (const virtio::VirtioDeviceKind* kind : virtio_device_kinds()) {
    auto section = config_.device_sections.find(std::string(kind->config.name));
    if (section == config_.device_sections.end()) continue;
    std::vector<const nlohmann::json*> bodies;
    if (kind->config.multi_instance()) {
      for (const auto& body : section->second) bodies.push_back(&body);
    } else {
      bodies.push_back(&section->second);
    }
    for (const nlohmann::json* body : bodies) {
      virtio::BuildContext context{&loop_, device_instance_id(kind->config, *body), options_.mmds};
      virtio::BuiltDevice built = kind->build(*body, context);
      kind_devices_.push_back({std::string(kind->config.name), context.instance_id, built.model});
      std::string prefix = built.metrics_prefix.empty() ? std::string(kind->metrics_prefix) : built.metrics_prefix;
      devices_->add_virtio(std::move(built.virtio), std::move(built.model), std::move(prefix));
    }
  }
}

Device& Vmm::kind_device(std::string_view kind, std::string_view id) const {
  for (const auto& d : kind_devices_) {
    if (d.kind == kind && d.id == id) return *d.device;
  }
  throw Error(id.empty() ? fmt::format("{}: no such device in this microVM", kind)
                         : fmt::format("{}: no device with id '{}' in this microVM", kind, id));
}

void Vmm::patch_device(std::string_view kind, std::string_view id, std::string_view sub, const nlohmann::json& patch) {
  kind_device(kind, id).api_patch(sub, patch);
}

nlohmann::json Vmm::get_device(std::string_view kind, std::string_view id, std::string_view sub) const {
  return kind_device(kind, id).api_get(sub);
}

void Vmm::load_guest() {
  GuestLoadRequest request;
  request.boot = *config_.boot_source;
  request.mem_size = uint64_t{config_.machine.mem_size_mib} * kMiB;
  request.vcpu_count = config_.machine.vcpu_count;
  request.virtio_devices = devices_->virtio_windows();
  request.extra_cmdline = extra_cmdline_;
  boot_entry_ = load_guest_image(memory_, request);
}

void Vmm::create_vcpus() {
  const auto supported = kvm_.supported_cpuid();
  const arch::CpuTopology topo{config_.machine.vcpu_count, config_.machine.smt};
  // One template slot (Firecracker's): a custom template, else the static one (empty for "None").
  const CustomCpuTemplate& cpu_template =
      config_.cpu_config ? *config_.cpu_config : arch::static_cpu_template(config_.machine.cpu_template);
  const std::vector<uint32_t> kvm_msrs =
      cpu_template.msr_modifiers.empty() ? std::vector<uint32_t>{} : kvm_.msr_index_list();
  for (uint32_t id = 0; id < config_.machine.vcpu_count; ++id) {
    kvm::Vcpu vcpu = vm_->create_vcpu(id);
    kvm::CpuidEntries cpuid = arch::normalize_cpuid(supported, id, topo);
    arch::apply_cpuid_template(cpuid, cpu_template);
    vcpu.set_cpuid(cpuid);
    vcpu.set_msrs(arch::boot_msrs());
    arch::set_template_msrs(vcpu, kvm_msrs, cpu_template);
    vcpu.set_fpu(arch::boot_fpu());
    vcpu.set_lapic(arch::boot_lapic(vcpu.get_lapic()));
    if (id == 0) {  // APs wait for INIT/SIPI from the guest
      vcpu.set_sregs(arch::boot_sregs(vcpu.get_sregs(), boot_entry_.mode));
      vcpu.set_regs(arch::boot_regs(boot_entry_.mode, boot_entry_.entry));
    }
    vcpus_.push_back(std::make_unique<VcpuThread>(
        std::move(vcpu), pio_bus_, mmio_bus_,
        [this](GuestStop why, const std::string& detail) { on_guest_stop(why, detail); }));
  }
}

void Vmm::advance(VmEvent event, const char* refusal) {
  const auto next = next_state(state_, event);
  if (!next) throw Error(refusal);
  state_ = *next;
}

void Vmm::restore_from(const SavedState& state) {
  advance(VmEvent::kRestore, "a snapshot can only be restored into a new microVM");  // vCPUs start on resume()
  restore_machine_state(state.machine);
  restore_devices(state.devices);
}

SavedState Vmm::save_state() {
  if (state_ != VmState::kPaused) throw Error("a snapshot needs a paused microVM");
  SavedState s;
  s.devices = save_devices();
  s.machine = save_machine_state();
  return s;
}

VmSnapshot Vmm::snapshot() {
  SavedState saved = save_state();
  VmSnapshot s;
  s.devices = std::move(saved.devices);
  s.machine = std::move(saved.machine);
  for (const auto& r : memory_.regions()) {
    const auto view = *memory_.view(r.range.start, r.range.size);
    s.memory.emplace_back(view.begin(), view.end());
  }
  return s;
}

void Vmm::start() {
  advance(VmEvent::kStart, "the microVM was already started");
  for (auto& v : vcpus_) v->start();
  vcpus_started_ = true;
  SPDLOG_INFO("microVM started: {} vCPU(s), {} MiB", config_.machine.vcpu_count, config_.machine.mem_size_mib);
}

void Vmm::pause() {
  advance(VmEvent::kPause, "the microVM is not running");
  for (auto& v : vcpus_) v->pause();
}

void Vmm::resume() {
  advance(VmEvent::kResume, "the microVM is not paused");
  if (!vcpus_started_) {  // built from a snapshot: the threads were never started
    for (auto& v : vcpus_) v->start();
    vcpus_started_ = true;
    return;
  }
  for (auto& v : vcpus_) v->resume();
}

void Vmm::send_ctrl_alt_del() {
  if (state_ != VmState::kRunning) throw Error("the microVM is not running");
  if (!i8042_->send_ctrl_alt_del()) {
    throw Error("SendCtrlAltDel: the guest has not read the previous keystrokes yet (keyboard buffer full)");
  }
}

MachineState Vmm::save_machine_state() {
  if (state_ != VmState::kPaused) throw Error("saving the machine state needs a paused microVM");
  if (saved_msrs_.empty()) saved_msrs_ = arch::saveable_msrs(kvm_, vcpus_.front()->vcpu());
  MachineState state;
  state.vm = arch::save_vm(*vm_);
  for (const auto& v : vcpus_) state.vcpus.push_back(arch::save_vcpu(v->vcpu(), saved_msrs_));
  return state;
}

void Vmm::restore_machine_state(const MachineState& state) {
  if (state_ != VmState::kPaused) throw Error("restoring the machine state needs a paused microVM");
  if (state.vcpus.size() != vcpus_.size()) {
    throw Error(fmt::format("machine state has {} vCPUs, this microVM has {}", state.vcpus.size(), vcpus_.size()));
  }
  arch::restore_vm(*vm_, state.vm);
  for (size_t i = 0; i < vcpus_.size(); ++i) arch::restore_vcpu(vcpus_[i]->vcpu(), state.vcpus[i]);
}

std::vector<std::vector<uint64_t>> Vmm::take_dirty_bitmaps() {
  if (!dirty_logging_) throw Error("dirty page tracking is off (machine-config.track_dirty_pages)");
  std::vector<std::vector<uint64_t>> bitmaps;
  uint32_t slot = 0;
  for (const auto& region : memory_.regions()) {
    bitmaps.push_back(vm_->get_dirty_log(slot, region.range.size));
    // Re-protect only what was taken: a page dirtied since the read stays in the log for the next call.
    if (vm_->manual_dirty_protect()) vm_->clear_dirty_log(slot, bitmaps.back());
    ++slot;
  }
  const auto vmm_bitmaps = memory_.take_vmm_dirty_bitmaps();
  for (size_t r = 0; r < bitmaps.size(); ++r) {
    for (size_t w = 0; w < bitmaps[r].size() && w < vmm_bitmaps[r].size(); ++w) bitmaps[r][w] |= vmm_bitmaps[r][w];
  }
  return bitmaps;
}

void Vmm::on_guest_stop(GuestStop why, const std::string& detail) {
  // Called on vCPU threads: record the first reason and let the VMM thread act.
  std::lock_guard lock(stop_mutex_);
  if (!pending_stop_) pending_stop_.emplace(why, detail);
  guest_stop_event_.signal();
}

void Vmm::handle_guest_stop() {
  std::pair<GuestStop, std::string> stop;
  {
    std::lock_guard lock(stop_mutex_);
    if (!pending_stop_) return;
    stop = *pending_stop_;
  }
  if (stop.first == GuestStop::kFailure) {
    SPDLOG_ERROR("microVM stopped: {}", stop.second);
    stop_reason_ = stop.second;
    this->stop(1);
  } else {
    SPDLOG_INFO("microVM stopped: {}", stop.second);
    stop_reason_ = stop.second;
    this->stop(0);
  }
}

void Vmm::stop(int exit_code) {
  if (exit_code_) return;
  exit_code_ = exit_code;
  for (auto& v : vcpus_) v->request_stop();
  for (auto& v : vcpus_) v->join();
  if (spdlog::should_log(spdlog::level::debug)) {
    for (const auto& v : vcpus_) {
      const kvm_regs regs = v->vcpu().get_regs();
      const kvm_sregs sregs = v->vcpu().get_sregs();
      SPDLOG_DEBUG("vCPU {} stopped at rip={:#x} rsp={:#x} cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}", v->vcpu().id(),
                    regs.rip, regs.rsp, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer);
    }
  }
  state_ = VmState::kStopped;
  loop_.stop();
}

void Vmm::export_device_metrics(metrics::Registry& registry) const { devices_->export_metrics(registry); }

std::vector<DeviceState> Vmm::save_devices() const {
  if (state_ != VmState::kPaused) throw Error("saving device state needs a paused microVM");
  for (const auto& d : drives_) d->prepare_save();  // in-flight I/O must land before queues are saved
  return devices_->save_all();
}

void Vmm::restore_devices(const std::vector<DeviceState>& states) {
  if (state_ != VmState::kPaused && state_ != VmState::kNotStarted) {
    throw Error("restoring device state needs a paused or not yet started microVM");
  }
  devices_->restore_all(states);
}

std::optional<std::chrono::steady_clock::duration> Vmm::boot_time() const { return boot_timer_->boot_time(); }

std::vector<std::pair<std::string, uint64_t>> Vmm::vcpu_exit_counts() const {
  uint64_t io_in = 0, io_out = 0, mmio_read = 0, mmio_write = 0, signalled = 0, other = 0;
  for (const auto& v : vcpus_) {
    io_in += v->exits().io_in;
    io_out += v->exits().io_out;
    mmio_read += v->exits().mmio_read;
    mmio_write += v->exits().mmio_write;
    signalled += v->exits().signalled;
    other += v->exits().other;
  }
  return {{"io_in", io_in},         {"io_out", io_out},       {"mmio_read", mmio_read},
          {"mmio_write", mmio_write}, {"signalled", signalled}, {"other", other}};
}

}  // namespace hearth
