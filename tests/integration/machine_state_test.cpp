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

namespace hearth::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

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
  const std::string console = (dir.path() / "console.txt").string();
  UniqueFd out(::open(console.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(out);

  VmConfig config;
  config.boot_source = BootSourceConfig{testguest_elf(), std::nullopt, "console=ttyS0 testguest.hold_ms=1500"};
  config.machine.vcpu_count = 2;
  config.machine.mem_size_mib = 128;
  VmmOptions options;
  options.console_in_fd = -1;
  options.console_out_fd = out.get();
  EventLoop loop;
  Vmm vmm(config, options, loop);
  vmm.start();
  // Pause in the middle of the guest's busy-wait, after its timer calibration.
  ASSERT_TRUE(pump(loop, [&] { return slurp(console).find("hold: ms=") != std::string::npos; },
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
  ASSERT_TRUE(pump(loop, [&] { return vmm.exit_code().has_value(); }, std::chrono::seconds(30))) << slurp(console);
  EXPECT_EQ(*vmm.exit_code(), 0) << vmm.stop_reason();
  EXPECT_NE(slurp(console).find("TESTGUEST PASS"), std::string::npos) << slurp(console);
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
