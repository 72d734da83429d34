// The vCPU and in-kernel device state of a paused VM can be saved and restored (the base of snapshots).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "tests/integration/harness.h"
#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/base/event_loop.h"
#include "vmm/core/vmm.h"

#include <nlohmann/json.hpp>

namespace hearth::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "console.txt" in `dir`, opened for the guest console to write to.
struct ConsoleFile {
  explicit ConsoleFile(const TempDir& dir)
      : path((dir.path() / "console.txt").string()),
        fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) {}
  std::string path;
  UniqueFd fd;
};

// Runs the event loop until `done` or the timeout; false on timeout.
template <typename Done>
bool pump(EventLoop& loop, Done done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_once(20);
  }
  return true;
}

TEST(MachineState, PausedVmSurvivesSaveScrambleRestore) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const ConsoleFile console(dir);
  ASSERT_TRUE(console.fd);

  VmConfig config;
  config.boot_source = BootSourceConfig{testguest_elf(), std::nullopt, "console=ttyS0 testguest.hold_ms=1500"};
  config.machine.vcpu_count = 2;
  config.machine.mem_size_mib = 128;
  VmmOptions options;
  options.console_in_fd = -1;
  options.console_out_fd = console.fd.get();
  EventLoop loop;
  Vmm vmm(config, options, loop);
  vmm.start();
  // Pause in the middle of the guest's busy-wait, after its timer calibration.
  ASSERT_TRUE(pump(loop, [&] { return slurp(console.path).find("hold: ms=") != std::string::npos; },
                   std::chrono::seconds(20)));
  vmm.pause();

  const MachineState saved = vmm.save_machine_state();
  ASSERT_EQ(saved.vcpus.size(), 2u);
  EXPECT_FALSE(saved.vcpus[0].msrs.empty());
  EXPECT_EQ(saved.vcpus[1].mp_state.mp_state, static_cast<uint32_t>(KVM_MP_STATE_UNINITIALIZED));  // the AP never got a SIPI

  // Restore really writes: a scrambled RIP shows up in the next save...
  MachineState scrambled = saved;
  scrambled.vcpus[0].regs.rip = 0xdead0000;
  vmm.restore_machine_state(scrambled);
  EXPECT_EQ(vmm.save_machine_state().vcpus[0].regs.rip, 0xdead0000u);
  // ...and restoring the saved state puts the guest back exactly where it was.
  vmm.restore_machine_state(saved);
  const MachineState again = vmm.save_machine_state();
  EXPECT_EQ(again.vcpus[0].regs.rip, saved.vcpus[0].regs.rip);
  EXPECT_EQ(again.vcpus[0].regs.rsp, saved.vcpus[0].regs.rsp);
  EXPECT_EQ(again.vcpus[0].sregs.cr3, saved.vcpus[0].sregs.cr3);
  EXPECT_EQ(again.vcpus[0].msrs.size(), saved.vcpus[0].msrs.size());

  vmm.resume();
  ASSERT_TRUE(pump(loop, [&] { return vmm.exit_code().has_value(); }, std::chrono::seconds(30))) << slurp(console.path);
  EXPECT_EQ(*vmm.exit_code(), 0) << vmm.stop_reason();
  EXPECT_NE(slurp(console.path).find("TESTGUEST PASS"), std::string::npos) << slurp(console.path);
}

size_t count_bits(const std::vector<std::vector<uint64_t>>& bitmaps) {
  size_t n = 0;
  for (const auto& b : bitmaps) {
    for (uint64_t word : b) n += static_cast<size_t>(__builtin_popcountll(word));
  }
  return n;
}

TEST(MachineState, DirtyPagesAreTrackedWhenAsked) {
  HEARTH_REQUIRE_KVM();
  VmConfig config;
  config.boot_source = BootSourceConfig{testguest_elf(), std::nullopt, "console=ttyS0 testguest.hold_ms=3000"};
  config.machine.mem_size_mib = 64;
  config.machine.track_dirty_pages = true;
  VmmOptions options;
  options.console_in_fd = -1;
  options.console_out_fd = -1;
  EventLoop loop;
  Vmm vmm(config, options, loop);
  vmm.take_dirty_bitmaps();  // start from a clean log
  vmm.start();
  pump(loop, [] { return false; }, std::chrono::milliseconds(800));  // let the guest run a while
  vmm.pause();
  const size_t while_running = count_bits(vmm.take_dirty_bitmaps());
  const size_t after = count_bits(vmm.take_dirty_bitmaps());
  EXPECT_GT(while_running, 0u) << "the guest wrote nothing?";
  EXPECT_EQ(after, 0u) << "a paused guest dirtied pages";
  EXPECT_LT(while_running, size_t{64} * 256);  // not the whole 64 MiB
  vmm.stop(0);

  VmConfig untracked = config;
  untracked.machine.track_dirty_pages = false;
  EventLoop loop2;
  Vmm plain(untracked, options, loop2);
  EXPECT_THROW(plain.take_dirty_bitmaps(), hearth::Error);
}

// The builder's second entry point: a paused VM's whole state (vCPUs, in-kernel devices, every device
// and transport, memory) builds a new VM in this process without loading a kernel, and the guest
// carries on from where it was paused to its verdict.
TEST(MachineState, SnapshotBuildsASecondVmFromStateThatRunsToPass) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const ConsoleFile console(dir);
  ASSERT_TRUE(console.fd);
  const std::string disk = dir.write("disk.img", std::string(1 << 20, '\x5a'));

  VmConfig config;
  // The rng self-test activates the entropy device; the guest then holds, and is paused meanwhile.
  config.boot_source = BootSourceConfig{testguest_elf(), std::nullopt,
                                        "console=ttyS0 testguest.run=rng testguest.hold_ms=5000"};
  config.machine.vcpu_count = 2;
  config.machine.mem_size_mib = 64;
  config.device_sections["entropy"] = nlohmann::json::object();
  DriveConfig drive;
  drive.drive_id = "data";
  drive.path_on_host = disk;
  config.drives.push_back(drive);
  VmmOptions options;
  options.console_in_fd = -1;
  options.console_out_fd = console.fd.get();

  EventLoop loop;
  VmSnapshot saved;
  std::vector<DeviceState> devices_before;
  {
    auto first = Vmm::from_config(config, options, loop);
    first->start();
    ASSERT_TRUE(pump(loop, [&] { return slurp(console.path).find("hold: ms=") != std::string::npos; },
                     std::chrono::seconds(60)))
        << slurp(console.path);
    first->pause();
    saved = first->snapshot();
    devices_before = saved.devices;
    first->stop(0);
  }  // the first VM is gone: nothing of it is left to keep the guest alive
  ASSERT_EQ(slurp(console.path).find("TESTGUEST PASS"), std::string::npos) << "the guest finished before the pause";
  EXPECT_NE(slurp(console.path).find("rng: ok"), std::string::npos) << slurp(console.path);

  // Every device was saved, in placement order, each with its transport.
  std::vector<std::string> kinds;
  for (const auto& d : saved.devices) kinds.push_back(d.kind + (d.id.empty() ? "" : ":" + d.id));
  EXPECT_EQ(kinds, (std::vector<std::string>{"serial", "i8042", "boot-timer", "virtio-blk:data", "virtio-mmio:virtio-blk 'data'",
                                             "virtio-rng", "virtio-mmio:virtio-rng"}));

  // Through text, as a snapshot file or migration stream carries it: KVM's state and every device's.
  saved.machine = nlohmann::json::parse(nlohmann::json(saved.machine).dump()).get<MachineState>();
  saved.devices = nlohmann::json::parse(nlohmann::json(saved.devices).dump()).get<std::vector<DeviceState>>();
  nlohmann::json bad = saved.machine;
  bad["vcpus"][0]["sregs"] = "00";
  try {
    (void)bad.get<MachineState>();
    ADD_FAILURE() << "a truncated sregs was accepted";
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("field 'sregs' holds 1 bytes"), std::string::npos) << e.what();
  }

  auto second = Vmm::from_state(config, options, loop, saved);
  EXPECT_EQ(second->state(), VmState::kPaused);
  // The restored devices save to the same state (the boot timer's clock moves on, so it is skipped).
  const auto restored = second->save_devices();
  ASSERT_EQ(restored.size(), devices_before.size());
  for (size_t i = 0; i < restored.size(); ++i) {
    if (restored[i].kind == "boot-timer") continue;
    EXPECT_EQ(nlohmann::json(restored[i]), nlohmann::json(devices_before[i])) << restored[i].kind;
  }
  second->resume();
  ASSERT_TRUE(pump(loop, [&] { return second->exit_code().has_value(); }, std::chrono::seconds(60))) << slurp(console.path);
  EXPECT_EQ(*second->exit_code(), 0) << second->stop_reason();
  EXPECT_NE(slurp(console.path).find("TESTGUEST PASS"), std::string::npos) << slurp(console.path);

  // A snapshot that does not fit the configuration is refused by name, before anything runs.
  VmConfig smaller = config;
  smaller.machine.mem_size_mib = 32;
  EventLoop loop2;
  try {
    Vmm::from_state(smaller, options, loop2, saved);
    ADD_FAILURE() << "a 64 MiB snapshot loaded into 32 MiB";
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("snapshot memory region 0 is 67108864 bytes"), std::string::npos) << e.what();
  }
  VmConfig no_rng = config;
  no_rng.device_sections.erase("entropy");
  EventLoop loop3;
  try {
    Vmm::from_state(no_rng, options, loop3, saved);
    ADD_FAILURE() << "device states restored into a VM without the rng";
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("more device(s) than this microVM, starting with virtio-rng"), std::string::npos)
        << e.what();
  }
}

TEST(MachineState, RefusedWhileRunning) {
  HEARTH_REQUIRE_KVM();
  VmConfig config;
  config.boot_source = BootSourceConfig{testguest_elf(), std::nullopt, "console=ttyS0 testguest.hold_ms=5000"};
  VmmOptions options;
  options.console_in_fd = -1;
  options.console_out_fd = -1;
  EventLoop loop;
  Vmm vmm(config, options, loop);
  EXPECT_THROW(vmm.save_machine_state(), hearth::Error);  // not started
  vmm.start();
  EXPECT_THROW(vmm.save_machine_state(), hearth::Error);  // running
  vmm.stop(0);
}

}  // namespace
}  // namespace hearth::test
