// Snapshots end to end with the test guest's `counter`: a VM is paused, snapshotted, its process killed,
// and a new process restores it. The count must go on from where it stopped, memory and the device-written
// buffers must be intact, the serial console goes on and the drive keeps working. Full and Diff (rebased with
// hearth-snapshot), File and Uffd backends, clones, and bad input that must leave the process usable.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kSectors = 64;
constexpr int kWaitMs = 120000;  // guest code is emulated here: generous, never a verdict on speed
constexpr uint32_t kMemMib = 128;

std::string tool(const std::string& name) { return (fs::path(hearth_binary()).parent_path() / name).string(); }

// blk-write's pattern, which `counter` checks in the sectors it reads.
std::string drive_pattern() {
  std::string bytes(kSectors * 512, '\0');
  for (int s = 0; s < kSectors; ++s) {
    for (int j = 0; j < 512; ++j) bytes[s * 512 + j] = static_cast<char>((s * 7 + j) & 0xff);
  }
  return bytes;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The last `counter: tick=N` in `out`, 0 when none.
uint64_t last_tick(const std::string& out) {
  const auto lines = lines_with_prefix(out, "counter: tick=");
  return lines.empty() ? 0 : std::stoull(lines.back().substr(std::string("counter: tick=").size()));
}
uint64_t first_tick(const std::string& out) {
  const auto lines = lines_with_prefix(out, "counter: tick=");
  return lines.empty() ? 0 : std::stoull(lines.front().substr(std::string("counter: tick=").size()));
}

// Waits for `text` on `process`'s stdout, giving up early once the guest reports a failure.
bool wait_for_tick(BackgroundProcess& process, const std::string& text, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = process.output();
    if (out.find(text) != std::string::npos) return true;
    if (out.find("TESTGUEST FAIL") != std::string::npos) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string fault_of(const HttpReply& r) {
  const json j = json::parse(r.body, nullptr, false);
  return j.is_object() ? j.value("fault_message", r.body) : r.body;
}

// One hearth process with an API socket.
struct Hearth {
  Hearth(const fs::path& dir, const std::string& name, std::vector<std::string> extra = {}) {
    socket = (dir / (name + ".sock")).string();
    std::vector<std::string> argv{hearth_binary(), "--api-sock", socket};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(300000);
    process = std::make_unique<BackgroundProcess>(argv, opts);
    started = wait_for_socket(socket, 20000);
    api = std::make_unique<ApiClient>(socket);
  }
  ~Hearth() { kill(); }  // the VM runs forever; the test decides when it ends
  Hearth(const Hearth&) = delete;
  Hearth& operator=(const Hearth&) = delete;
  void kill() { ::kill(process->pid(), SIGKILL); }
  std::string socket;
  bool started = false;
  std::unique_ptr<BackgroundProcess> process;
  std::unique_ptr<ApiClient> api;
};

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override { disk_ = dir_.write("disk.img", drive_pattern()); }
  void TearDown() override {
    for (auto& h : handlers_) {
      if (h) ::kill(h->pid(), SIGKILL);
    }
  }

  json counter_config(bool track_dirty_pages) const {
    json config = testguest_config(1, kMemMib, "console=ttyS0 testguest.run=counter testguest.tick_ms=50");
    config["machine-config"]["track_dirty_pages"] = track_dirty_pages;
    config["drives"] = json::array({{{"drive_id", "data"},
                                     {"path_on_host", disk_},
                                     {"is_root_device", false},
                                     {"is_read_only", false}}});
    return config;
  }

  // Boots `counter` and waits for it to tick a few times.
  std::unique_ptr<Hearth> boot_counter(bool track_dirty_pages) {
    const std::string config = dir_.write("config.json", counter_config(track_dirty_pages).dump());
    auto vm = std::make_unique<Hearth>(dir_.path(), "source", std::vector<std::string>{"--config-file", config});
    EXPECT_TRUE(vm->started);
    EXPECT_TRUE(vm->process->wait_for_output("counter: tick=3 ", kWaitMs)) << vm->process->output();
    return vm;
  }

  // Pauses `vm` and takes a snapshot; returns the last tick printed before the pause.
  uint64_t pause_and_snapshot(Hearth& vm, const std::string& type, const std::string& state, const std::string& mem) {
    EXPECT_EQ(vm.api->patch("/vm", R"({"state":"Paused"})").status, 204);
    // A tick line may still be on its way out of the UART when the vCPU stops; the guest's count is what it printed.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t tick = last_tick(vm.process->output());
    const HttpReply r = vm.api->put("/snapshot/create", json{{"snapshot_type", type},
                                                             {"snapshot_path", state},
                                                             {"mem_file_path", mem}}.dump());
    EXPECT_EQ(r.status, 204) << r.body;
    return tick;
  }

  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  // Starts a page-fault handler serving `mem` on a socket; empty when userfaultfd is unavailable here.
  std::unique_ptr<BackgroundProcess> start_uffd_handler(const std::string& mem, std::string& socket) {
    socket = path(fmt::format("uffd{}.sock", restores_));
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(300000);
    auto handler = std::make_unique<BackgroundProcess>(std::vector<std::string>{tool("hearth-uffd-handler"), socket, mem},
                                                       opts);
    EXPECT_TRUE(handler->wait_for_output("listening on", 10000));
    return handler;
  }

  // Restores state+mem into a fresh process (File or Uffd backend) and checks that the count goes on from
  // `tick`, with no reboot and no failure.
  std::unique_ptr<Hearth> restore_and_check(const std::string& state, const std::string& mem, bool uffd,
                                            uint64_t tick) {
    std::string backend_path = mem;
    std::unique_ptr<BackgroundProcess> handler;
    if (uffd) handler = start_uffd_handler(mem, backend_path);
    auto vm = std::make_unique<Hearth>(dir_.path(), fmt::format("restored{}", ++restores_));
    EXPECT_TRUE(vm->started);
    const json body = {{"snapshot_path", state},
                       {"mem_backend", {{"backend_type", uffd ? "Uffd" : "File"}, {"backend_path", backend_path}}},
                       {"resume_vm", true}};
    const HttpReply r = vm->api->put("/snapshot/load", body.dump());
    EXPECT_EQ(r.status, 204) << r.body;
    const std::string next = fmt::format("counter: tick={} ", tick + 3);
    EXPECT_TRUE(wait_for_tick(*vm->process, next, kWaitMs)) << vm->process->output();
    const std::string out = vm->process->output();
    EXPECT_EQ(first_tick(out), tick + 1) << out;  // continues, does not restart at 1
    EXPECT_EQ(out.find("TESTGUEST START"), std::string::npos) << out;  // no reboot: the console just goes on
    EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
    // Complete lines only: the guest may be half way through printing the last one.
    const std::string complete = out.substr(0, out.rfind('\n') + 1);
    for (const auto& line : lines_with_prefix(complete, "counter: tick=")) {
      EXPECT_NE(line.find("blk=ok"), std::string::npos) << line;
    }
    handlers_.push_back(std::move(handler));  // serves the VM's memory until the test ends
    return vm;
  }

  TempDir dir_;
  std::string disk_;
  std::vector<std::unique_ptr<BackgroundProcess>> handlers_;
  int restores_ = 0;
};

class FullSnapshot : public SnapshotTest, public ::testing::WithParamInterface<bool> {};

TEST_P(FullSnapshot, AKilledVmGoesOnFromWhereItStoppedInANewProcess) {
  HEARTH_REQUIRE_KVM();
  const bool uffd = GetParam();
  auto source = boot_counter(false);
  const std::string state = path("vm.state"), mem = path("vm.mem");
  const uint64_t tick = pause_and_snapshot(*source, "Full", state, mem);
  ASSERT_GE(tick, 3u);
  source->kill();
  source->process->wait();
  // The guest's marker write, issued before the snapshot, is on disk.
  EXPECT_EQ(read_file(disk_).substr(512, 20), "HEARTH COUNTER WRITE");
  // Never-touched guest memory stays a hole: the file is sparse.
  struct stat st {};
  ASSERT_EQ(::stat(mem.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), uint64_t{kMemMib} << 20);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, (uint64_t{kMemMib} << 20) / 4);

  auto restored = restore_and_check(state, mem, uffd, tick);
  // The restored VM is a VM like any other: info, config, metrics, pause/resume, drive PATCH, a new snapshot.
  ApiClient& api = *restored->api;
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Running");
  const json config = json::parse(api.get("/vm/config").body);
  EXPECT_EQ(config["machine-config"]["mem_size_mib"], kMemMib);
  EXPECT_EQ(config["drives"][0]["path_on_host"], disk_);
  const HttpReply metrics = api.get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("hearth_snapshot_load 1"), std::string::npos) << metrics.body;
  EXPECT_EQ(api.patch("/drives/data", R"({"drive_id":"data","rate_limiter":{"ops":{"size":1000,"refill_time":100}}})")
                .status,
            204);
  EXPECT_EQ(api.patch("/vm", R"({"state":"Paused"})").status, 204);
  EXPECT_EQ(api.patch("/vm", R"({"state":"Resumed"})").status, 204);
  const uint64_t later = pause_and_snapshot(*restored, "Full", path("again.state"), path("again.mem"));
  EXPECT_GT(later, tick);
  EXPECT_NE(api.get("/metrics").body.find(path("again.state")), std::string::npos);
  restored->kill();
  restore_and_check(path("again.state"), path("again.mem"), uffd, later);
}

INSTANTIATE_TEST_SUITE_P(Backends, FullSnapshot, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Uffd" : "File"; });

class DiffSnapshot : public SnapshotTest, public ::testing::WithParamInterface<bool> {};

// Full, run (the guest reads its drive, so pages only the VMM wrote change), Diff, rebase, restore.
TEST_P(DiffSnapshot, RebasedOntoItsFullSnapshotRestoresTheNewerState) {
  HEARTH_REQUIRE_KVM();
  const bool uffd = GetParam();
  auto source = boot_counter(true);
  const std::string base = path("base.mem"), diff = path("diff.mem");
  const uint64_t full_tick = pause_and_snapshot(*source, "Full", path("base.state"), base);
  ASSERT_EQ(source->api->patch("/vm", R"({"state":"Resumed"})").status, 204);
  ASSERT_TRUE(source->process->wait_for_output(fmt::format("counter: tick={} ", full_tick + 12), kWaitMs));
  const uint64_t tick = pause_and_snapshot(*source, "Diff", path("diff.state"), diff);
  ASSERT_GE(tick, full_tick + 12);
  source->kill();
  // The diff holds only what changed: far less than the full file's data.
  struct stat st {};
  ASSERT_EQ(::stat(diff.c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{2} << 20);
  const ProcessResult info = run_process({tool("hearth-snapshot"), "info", path("diff.state")});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("Diff"), std::string::npos) << info.out;
  const ProcessResult rebase = run_process({tool("hearth-snapshot"), "rebase", "--base-file", base, "--diff-file", diff});
  ASSERT_EQ(rebase.exit_code, 0) << rebase.out << rebase.err;
  restore_and_check(path("diff.state"), base, uffd, tick);
}

INSTANTIATE_TEST_SUITE_P(Backends, DiffSnapshot, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Uffd" : "File"; });

TEST_F(SnapshotTest, TenClonesOfOneSnapshotRunAtOnceSharingTheirMemoryFile) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_counter(false);
  const std::string state = path("vm.state"), mem = path("vm.mem");
  const uint64_t tick = pause_and_snapshot(*source, "Full", state, mem);
  source->kill();
  constexpr int kClones = 10;
  std::vector<std::unique_ptr<Hearth>> clones;
  for (int i = 0; i < kClones; ++i) {
    clones.push_back(std::make_unique<Hearth>(dir_.path(), fmt::format("clone{}", i)));
    ASSERT_TRUE(clones.back()->started);
  }
  const json body = {{"snapshot_path", state}, {"mem_file_path", mem}, {"resume_vm", true}};
  for (auto& c : clones) ASSERT_EQ(c->api->put("/snapshot/load", body.dump()).status, 204);
  size_t total_rss_kib = 0;
  for (auto& c : clones) {
    ASSERT_TRUE(wait_for_tick(*c->process, fmt::format("counter: tick={} ", tick + 2), kWaitMs * 2))
        << c->process->output();
    EXPECT_EQ(first_tick(c->process->output()), tick + 1);
    EXPECT_EQ(c->process->output().find("FAIL"), std::string::npos);
  }
  for (auto& c : clones) total_rss_kib += rss_kib(c->process->pid());
  const size_t guest_kib = size_t{kMemMib} * 1024;
  std::printf("clones: %d running, combined RSS %zu KiB (%.1f MiB), against %zu KiB of guest memory each\n", kClones,
              total_rss_kib, static_cast<double>(total_rss_kib) / 1024, guest_kib);
#ifdef HEARTH_TEST_SANITIZED
  std::printf("clones: the RSS bound is not checked under sanitizers (their shadow memory dominates)\n");
#else
  EXPECT_LT(total_rss_kib, kClones * guest_kib / 4);
#endif
}

// Bad input: a 400 naming the problem, and the same process then loads a good snapshot.
TEST_F(SnapshotTest, BadSnapshotFilesAreRefusedByNameAndTheProcessStaysUsable) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_counter(false);
  const std::string state = path("vm.state"), mem = path("vm.mem");
  // Create on a running VM; into a missing directory; into a path under a regular file.
  HttpReply r = source->api->put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("must be paused"), std::string::npos) << r.body;
  ASSERT_EQ(source->api->patch("/vm", R"({"state":"Paused"})").status, 204);
  r = source->api->put("/snapshot/create", json{{"snapshot_path", path("nodir/vm.state")}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("snapshot_path"), std::string::npos) << r.body;
  r = source->api->put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", disk_ + "/vm.mem"}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("mem_file_path"), std::string::npos) << r.body;
  r = source->api->put("/snapshot/create",
                       json{{"snapshot_type", "Diff"}, {"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("track_dirty_pages"), std::string::npos) << r.body;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "partial file left: " << entry.path();
  }
  EXPECT_FALSE(fs::exists(state));
  const uint64_t tick = pause_and_snapshot(*source, "Full", state, mem);
  source->kill();

  const std::string good = read_file(state);
  auto with_byte_flipped = [&](size_t at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x40);
    return bad;
  };
  struct Case {
    std::string name, state_bytes, mem_path, expect;
  };
  const std::string small_mem = dir_.write("small.mem", std::string(4096, '\0'));
  std::vector<Case> cases = {
      {"crc", with_byte_flipped(good.size() / 2), mem, "CRC"},
      {"truncated", good.substr(0, good.size() - 100), mem, "truncated"},
      {"magic", with_byte_flipped(0), mem, "magic"},
      {"version", with_byte_flipped(9), mem, "version"},
      {"short memory file", good, small_mem, "mem_backend.backend_path"},
      {"missing memory file", good, path("nothing.mem"), "mem_backend.backend_path"},
  };
  Hearth vm(dir_.path(), "target");
  ASSERT_TRUE(vm.started);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = dir_.write("bad.state", c.state_bytes);
    r = vm.api->put("/snapshot/load", json{{"snapshot_path", file}, {"mem_file_path", c.mem_path}}.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(fault_of(r).find(c.expect), std::string::npos) << r.body;
    EXPECT_EQ(json::parse(vm.api->get("/").body)["state"], "Not started");
  }
  // A drive that is gone, then one whose size changed.
  fs::rename(disk_, disk_ + ".away");
  r = vm.api->put("/snapshot/load", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("drive 'data'"), std::string::npos) << r.body;
  write_bytes(disk_, drive_pattern() + std::string(512, 'x'));
  r = vm.api->put("/snapshot/load", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("the snapshot recorded"), std::string::npos) << r.body;
  fs::remove(disk_);
  fs::rename(disk_ + ".away", disk_);
  // After all that the process loads the good snapshot and the guest goes on.
  r = vm.api->put("/snapshot/load", json{{"snapshot_path", state}, {"mem_file_path", mem}, {"resume_vm", true}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(wait_for_tick(*vm.process, fmt::format("counter: tick={} ", tick + 2), kWaitMs)) << vm.process->output();
}

TEST_F(SnapshotTest, LoadAfterBootConfigurationIsRefused) {
  Hearth vm(dir_.path(), "configured");
  ASSERT_TRUE(vm.started);
  ASSERT_EQ(vm.api->put("/machine-config", R"({"vcpu_count":1,"mem_size_mib":64})").status, 204);
  const HttpReply r = vm.api->put("/snapshot/load", json{{"snapshot_path", path("x")}, {"mem_file_path", path("y")}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault_of(r).find("before any boot configuration"), std::string::npos) << r.body;
}

TEST_F(SnapshotTest, CommandLineRestoreRunsTheVmAndABadFileIsAOneLineError) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_counter(false);
  const std::string state = path("vm.state"), mem = path("vm.mem");
  const uint64_t tick = pause_and_snapshot(*source, "Full", state, mem);
  source->kill();
  Hearth vm(dir_.path(), "cli", {"--restore-from", state, "--mem-file", mem});
  EXPECT_TRUE(wait_for_tick(*vm.process, fmt::format("counter: tick={} ", tick + 2), kWaitMs)) << vm.process->output();
  EXPECT_EQ(first_tick(vm.process->output()), tick + 1);

  const std::string bad = dir_.write("bad.state", read_file(state).substr(0, 10));
  const ProcessResult r = run_process({hearth_binary(), "--no-api", "--restore-from", bad, "--mem-file", mem});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.err, "hearth: error: --restore-from: ").size(), 1u) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth::test
