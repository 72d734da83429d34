#include "api/preboot_controller.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "api/router.h"
#include "vmm/base/error.h"
#include "vmm/base/event_loop.h"

namespace hearth::api {
namespace {

namespace fs = std::filesystem;

// Records the runtime hooks; the VMM's real controller does the KVM work here.
class TestVmm : public PrebootConfigController {
 public:
  using PrebootConfigController::PrebootConfigController;
  std::vector<std::string> hooks;
  bool fail_start = false;

 protected:
  Result<> start_vm(const VmConfig& c) override {
    hooks.push_back("start " + c.boot_source->kernel_image_path);
    if (fail_start) throw Error("kernel: not an ELF file");
    return {};
  }
  Result<> pause_vm() override { hooks.push_back("pause"); return {}; }
  Result<> resume_vm() override { hooks.push_back("resume"); return {}; }
  Result<> ctrl_alt_del() override { hooks.push_back("cad"); return {}; }
  Result<> snapshot_vm(const SnapshotCreateRequest& r) override {
    hooks.push_back("snapshot " + r.snapshot_path);
    return {};
  }
  Result<VmConfig> restore_vm(const SnapshotLoadRequest& r) override {
    hooks.push_back("restore " + r.snapshot_path);
    if (fail_restore) throw Error("snapshot_path: truncated");
    VmConfig restored;
    restored.machine.mem_size_mib = 77;
    return restored;
  }

 public:
  bool fail_restore = false;
};

class PrebootTest : public ::testing::Test {
 protected:
  PrebootTest() {
    dir = fs::temp_directory_path() / ("hearth-preboot-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    kernel = dir + "/vmlinux";
    disk = dir + "/disk.img";
    std::ofstream(kernel) << "k";
    std::ofstream(disk) << "d";
  }
  ~PrebootTest() override { fs::remove_all(dir); }

  DriveConfig drive(std::string id, std::string path, bool root) {
    DriveConfig d;
    d.drive_id = std::move(id);
    d.path_on_host = std::move(path);
    d.is_root_device = root;
    return d;
  }
  static std::string message(const Result<>& r) { return r.ok() ? "<ok>" : r.fault().message; }

  std::string dir, kernel, disk;
  metrics::Registry registry;
  TestVmm vmm{"1.2.3", VmConfig{}, registry};
};

TEST_F(PrebootTest, ValidatesPathsAtPutTime) {
  BootSourceConfig boot;
  boot.kernel_image_path = dir + "/missing";
  EXPECT_EQ(message(vmm.put_boot_source(boot)),
            "boot-source.kernel_image_path: cannot open '" + dir + "/missing': No such file or directory");
  boot.kernel_image_path = dir;
  EXPECT_EQ(message(vmm.put_boot_source(boot)),
            "boot-source.kernel_image_path: '" + dir + "' is a directory; it must be a regular file");
  boot.kernel_image_path = kernel;
  EXPECT_TRUE(vmm.put_boot_source(boot).ok());
  EXPECT_EQ(vmm.config().boot_source->kernel_image_path, kernel);

  EXPECT_EQ(message(vmm.put_drive(drive("root", dir + "/nope", true))).substr(0, 32),
            "drive.path_on_host: cannot open ");
  EXPECT_TRUE(vmm.config().drives.empty());
}

TEST_F(PrebootTest, DrivesUpsertAndSingleRoot) {
  ASSERT_TRUE(vmm.put_drive(drive("root", disk, true)).ok());
  ASSERT_TRUE(vmm.put_drive(drive("data", disk, false)).ok());
  EXPECT_EQ(message(vmm.put_drive(drive("other", disk, true))),
            "drive: only one root device is allowed; 'root' is already the root");
  DriveConfig ro = drive("data", disk, false);
  ro.is_read_only = true;
  ASSERT_TRUE(vmm.put_drive(ro).ok());  // same id replaces
  ASSERT_EQ(vmm.config().drives.size(), 2u);
  EXPECT_TRUE(vmm.config().drives[1].is_read_only);

  DrivePatch p;
  p.drive_id = "data";
  p.rate_limiter = RateLimiterConfig{TokenBucketConfig{1, 0, 2}, std::nullopt};
  ASSERT_TRUE(vmm.patch_drive(p).ok());
  EXPECT_EQ(vmm.config().drives[1].rate_limiter->bandwidth->refill_time_ms, 2u);
  p.drive_id = "ghost";
  EXPECT_EQ(message(vmm.patch_drive(p)), "drive: no drive with drive_id 'ghost'");
}

TEST_F(PrebootTest, MachineConfigPutAndPatch) {
  MachineConfig m;
  m.vcpu_count = 2;
  m.mem_size_mib = 64;
  ASSERT_TRUE(vmm.put_machine_config(m).ok());
  MachineConfigPatch p;
  p.mem_size_mib = 512;
  ASSERT_TRUE(vmm.patch_machine_config(p).ok());
  EXPECT_EQ(vmm.get_machine_config().value().vcpu_count, 2u);
  EXPECT_EQ(vmm.get_machine_config().value().mem_size_mib, 512u);
  p = {};
  p.vcpu_count = 3;
  p.smt = true;
  EXPECT_EQ(message(vmm.patch_machine_config(p)),
            "machine-config.vcpu_count: must be 1 or even when smt is enabled, got 3");
  EXPECT_EQ(vmm.config().machine.vcpu_count, 2u);  // unchanged on failure
}

TEST_F(PrebootTest, Lifecycle) {
  EXPECT_EQ(message(vmm.instance_start()),
            "InstanceStart: no boot source is configured (PUT /boot-source first)");
  EXPECT_EQ(message(vmm.pause()), "Pause is not allowed before boot");
  EXPECT_EQ(message(vmm.send_ctrl_alt_del()), "SendCtrlAltDel is not allowed before boot");
  BootSourceConfig boot;
  boot.kernel_image_path = kernel;
  ASSERT_TRUE(vmm.put_boot_source(boot).ok());

  vmm.fail_start = true;
  EXPECT_EQ(message(vmm.instance_start()), "kernel: not an ELF file");
  EXPECT_EQ(vmm.describe_instance().value().state, "Not started");
  vmm.fail_start = false;
  ASSERT_TRUE(vmm.instance_start().ok());
  EXPECT_EQ(vmm.describe_instance().value().state, "Running");
  EXPECT_EQ(vmm.describe_instance().value().vmm_version, "1.2.3");
  EXPECT_EQ(message(vmm.instance_start()), "InstanceStart: the microVM is already running");

  EXPECT_EQ(message(vmm.put_boot_source(boot)), "PUT /boot-source is not allowed after boot");
  EXPECT_EQ(message(vmm.put_machine_config(MachineConfig{})), "PUT /machine-config is not allowed after boot");
  EXPECT_EQ(message(vmm.patch_machine_config({})), "PATCH /machine-config is not allowed after boot");
  EXPECT_EQ(message(vmm.put_drive(drive("a", disk, false))), "PUT /drives is not allowed after boot");
  EXPECT_EQ(message(vmm.put_logger({})), "PUT /logger is not allowed after boot");
  EXPECT_EQ(message(vmm.put_metrics({"/tmp/x", false, {}})), "PUT /metrics is not allowed after boot");
  EXPECT_EQ(message(vmm.put_serial({"/tmp/x"})), "PUT /serial is not allowed after boot");

  ASSERT_TRUE(vmm.pause().ok());
  ASSERT_TRUE(vmm.pause().ok());  // already paused: no second hook call
  EXPECT_EQ(vmm.describe_instance().value().state, "Paused");
  ASSERT_TRUE(vmm.resume().ok());
  ASSERT_TRUE(vmm.send_ctrl_alt_del().ok());
  EXPECT_EQ(vmm.hooks, (std::vector<std::string>{"start " + kernel, "start " + kernel, "pause",
                                                 "resume", "cad"}));
}

TEST_F(PrebootTest, MetricsFlush) {
  EXPECT_EQ(message(vmm.flush_metrics()),
            "FlushMetrics: metrics are not configured (PUT /metrics first)");
  EXPECT_EQ(message(vmm.put_metrics({"/nonexistent/m", false, {}})).substr(0, 42),
            "metrics.metrics_path: cannot create '/none");
  std::string path = dir + "/metrics.json";
  ASSERT_TRUE(vmm.put_metrics({path, false, {}}).ok());
  registry.counter("api.test").add(4);
  ASSERT_TRUE(vmm.flush_metrics().ok());
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(nlohmann::json::parse(line)["api"]["test"], 4);
}

// The production path minus the socket: Router on this thread, controller on a VMM thread.
TEST_F(PrebootTest, RouterThroughQueueToVmmThread) {
  RequestQueue queue;
  EventLoop loop;
  loop.add(queue.eventfd(), EPOLLIN, [&](uint32_t) { queue.drain(vmm); });
  std::thread vmm_thread([&] { loop.run(); });
  Router router(Router::through(queue), registry);
  auto send = [&](std::string method, std::string path, std::optional<std::string> body) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    return router.handle(r);
  };
  EXPECT_EQ(send("PUT", "/boot-source", nlohmann::json{{"kernel_image_path", kernel}}.dump()).status, 204);
  EXPECT_EQ(send("PATCH", "/machine-config", R"({"vcpu_count": 2})").status, 204);
  EXPECT_EQ(send("PUT", "/actions", R"({"action_type": "InstanceStart"})").status, 204);
  HttpResponse r = send("PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 2})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"fault_message":"PUT /machine-config is not allowed after boot"})");
  r = send("GET", "/vm/config", std::nullopt);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["machine-config"]["vcpu_count"], 2);
  EXPECT_EQ(nlohmann::json::parse(send("GET", "/", std::nullopt).body)["state"], "Running");
  loop.stop();
  vmm_thread.join();
  queue.shutdown();
  EXPECT_EQ(send("GET", "/", std::nullopt).status, 503);
}

}  // namespace
}  // namespace hearth::api

namespace hearth::api {
namespace {

TEST_F(PrebootTest, SnapshotLoadOnlyIntoAFreshProcessAndItLeavesTheVmPaused) {
  SnapshotLoadRequest load{"/state", false, "/mem", false, false};
  vmm.fail_restore = true;
  EXPECT_EQ(message(vmm.load_snapshot(load)), "snapshot_path: truncated");
  EXPECT_EQ(vmm.state(), VmState::kNotStarted);  // a failed load leaves the process as it was
  EXPECT_EQ(registry.counter("snapshot.load_fails").get(), 1u);
  vmm.fail_restore = false;
  LoggerConfig logger;
  ASSERT_TRUE(vmm.put_logger(logger).ok());  // logger, metrics and serial do not count as configuration
  ASSERT_TRUE(vmm.load_snapshot(load).ok());
  EXPECT_EQ(vmm.state(), VmState::kPaused);
  EXPECT_EQ(vmm.config().machine.mem_size_mib, 77u);  // GET /vm/config shows the snapshot's configuration
  EXPECT_EQ(message(vmm.load_snapshot(load)),
            "snapshot/load: a snapshot can only be loaded into a fresh microVM; this one was started");
  EXPECT_EQ(message(vmm.instance_start()), "InstanceStart: the microVM is already running");
  ASSERT_TRUE(vmm.resume().ok());
  EXPECT_EQ((std::vector<std::string>{"restore /state", "restore /state", "resume"}), vmm.hooks);
}

TEST_F(PrebootTest, SnapshotLoadAfterConfigurationIsRefusedNamingIt) {
  MachineConfig m;
  ASSERT_TRUE(vmm.put_machine_config(m).ok());
  EXPECT_EQ(message(vmm.load_snapshot(SnapshotLoadRequest{"/state", false, "/mem", false, false})),
            "snapshot/load: a snapshot can only be loaded before any boot configuration; this microVM was "
            "configured by PUT /machine-config");
  EXPECT_TRUE(vmm.hooks.empty());
}

TEST_F(PrebootTest, SnapshotLoadWithResumeRunsTheVm) {
  ASSERT_TRUE(vmm.load_snapshot(SnapshotLoadRequest{"/state", false, "/mem", false, true}).ok());
  EXPECT_EQ(vmm.state(), VmState::kRunning);
}

TEST_F(PrebootTest, SnapshotCreateNeedsAPausedVm) {
  const SnapshotCreateRequest create{false, "/s", "/m"};
  EXPECT_EQ(message(vmm.create_snapshot(create)),
            "snapshot/create: the microVM must be paused first (PATCH /vm {\"state\": \"Paused\"}); it is Not started");
  BootSourceConfig boot;
  boot.kernel_image_path = kernel;
  ASSERT_TRUE(vmm.put_boot_source(boot).ok());
  ASSERT_TRUE(vmm.instance_start().ok());
  EXPECT_EQ(message(vmm.create_snapshot(create)),
            "snapshot/create: the microVM must be paused first (PATCH /vm {\"state\": \"Paused\"}); it is Running");
  ASSERT_TRUE(vmm.pause().ok());
  ASSERT_TRUE(vmm.create_snapshot(create).ok());
  EXPECT_EQ(vmm.hooks.back(), "snapshot /s");
  EXPECT_EQ(registry.counter("snapshot.create_full").get(), 3u);
  EXPECT_EQ(registry.counter("snapshot.create_fails").get(), 2u);
}

}  // namespace
}  // namespace hearth::api
