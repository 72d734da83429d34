// hearth's REST API over its Unix socket, driven like a Firecracker client would.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_.path() / "api.sock").string();
    disk_ = dir_.write("disk.img", std::string(1 << 20, '\0'));
  }

  // Starts hearth serving the API; the process is ended by the test (CtrlAltDel, a signal or its timeout).
  void start_hearth(std::vector<std::string> extra = {}, ProcessOptions opts = {}) {
    std::vector<std::string> argv = {hearth_binary(), "--api-sock", socket_, "--level", "Info", "--id", "api-test"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (opts.timeout == ProcessOptions{}.timeout) opts.timeout = std::chrono::milliseconds(60000);
    process_ = std::make_unique<BackgroundProcess>(argv, opts);
    ASSERT_TRUE(wait_for_socket(socket_, 10000)) << "API socket never accepted";
  }

  json boot_source(const std::string& run) const {
    return {{"kernel_image_path", testguest_elf()}, {"boot_args", "console=ttyS0 testguest.run=" + run}};
  }

  TempDir dir_;
  std::string socket_, disk_;
  std::unique_ptr<BackgroundProcess> process_;
};

TEST_F(ApiTest, GettingStartedFlowConfigureStartPauseResumeCtrlAltDel) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  auto info = json::parse(api.get("/").body);
  EXPECT_EQ(info["state"], "Not started");
  EXPECT_EQ(info["id"], "api-test");
  EXPECT_EQ(info["app_name"], "Hearth");

  EXPECT_EQ(api.put("/boot-source", boot_source("ctrl-alt-del").dump()).status, 204);
  EXPECT_EQ(api.put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})").status, 204);
  EXPECT_EQ(api.put("/drives/rootfs", json{{"drive_id", "rootfs"}, {"path_on_host", disk_}, {"is_root_device", true},
                                          {"is_read_only", false}}.dump()).status, 204);
  auto machine = json::parse(api.get("/machine-config").body);
  EXPECT_EQ(machine["vcpu_count"], 2);
  EXPECT_EQ(machine["mem_size_mib"], 256);

  EXPECT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Running");
  EXPECT_EQ(api.patch("/vm", R"({"state": "Paused"})").status, 204);
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Paused");
  EXPECT_EQ(api.patch("/vm", R"({"state": "Resumed"})").status, 204);
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Running");

  // Pre-boot-only operations are refused after boot and change nothing.
  auto late = api.put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128})");
  EXPECT_EQ(late.status, 400);
  EXPECT_NE(late.body.find("after boot"), std::string::npos) << late.body;
  EXPECT_EQ(json::parse(api.get("/machine-config").body)["vcpu_count"], 2);

  EXPECT_EQ(api.put("/actions", R"({"action_type": "SendCtrlAltDel"})").status, 204);
  ProcessResult r = process_->wait();
  SCOPED_TRACE(r.out + r.err);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "CAD received").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_NE(r.out.find("root=/dev/vda rw"), std::string::npos);
}

struct BadRequest {
  const char* method;
  const char* path;
  const char* body;
  const char* fault;  // must appear in fault_message
};

// Three or more bad inputs for every endpoint; each must be a 400 naming the problem.
const BadRequest kBadRequests[] = {
    {"PUT", "/boot-source", "{\"kernel_image_path\": ", "JSON"},
    {"PUT", "/boot-source", R"({"kernel_image_path": 7})", "kernel_image_path"},
    {"PUT", "/boot-source", R"({"kernel_image_path": "/bin/true", "bootargs": "x"})", "bootargs"},
    {"PUT", "/boot-source", R"({"boot_args": "x"})", "kernel_image_path"},
    {"PUT", "/boot-source", R"({"kernel_image_path": "/nonexistent/vmlinux"})", "/nonexistent/vmlinux"},
    {"PUT", "/machine-config", R"({"vcpu_count": 0, "mem_size_mib": 128})", "vcpu_count"},
    {"PUT", "/machine-config", R"({"vcpu_count": 33, "mem_size_mib": 128})", "vcpu_count"},
    {"PUT", "/machine-config", R"({"vcpu_count": "2", "mem_size_mib": 128})", "vcpu_count"},
    {"PUT", "/machine-config", R"({"vcpu_count": 2})", "mem_size_mib"},
    {"PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 128, "cpus": 1})", "cpus"},
    {"PATCH", "/machine-config", R"({"vcpu_count": -1})", "vcpu_count"},
    {"PATCH", "/machine-config", R"({"smt": "yes"})", "smt"},
    {"PATCH", "/machine-config", "[1,2", "JSON"},
    {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": "/nonexistent", "is_root_device": true, "is_read_only": false})", "/nonexistent"},
    {"PUT", "/drives/rootfs", R"({"drive_id": "other", "path_on_host": "/dev/null", "is_root_device": true, "is_read_only": false})", "drive_id"},
    {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "is_root_device": true, "is_read_only": false})", "path_on_host"},
    {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": "/dev/null", "is_root_device": "yes", "is_read_only": false})", "is_root_device"},
    {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": "/dev/null", "is_root_device": true, "is_read_only": false, "cache_type": "Fast"})", "cache_type"},
    {"PATCH", "/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": 5})", "path_on_host"},
    {"PATCH", "/drives/rootfs", R"({"path_on_host": "/dev/null"})", "drive_id"},
    {"PATCH", "/drives/rootfs", R"({"drive_id": "rootfs", "is_read_only": true})", "is_read_only"},
    {"PUT", "/actions", R"({"action_type": "Reboot"})", "action_type"},
    {"PUT", "/actions", R"({})", "action_type"},
    {"PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})", "before boot"},
    {"PATCH", "/vm", R"({"state": "Sleeping"})", "state"},
    {"PATCH", "/vm", R"({"state": "Paused"})", "before boot"},
    {"PATCH", "/vm", R"({"status": "Paused"})", "status"},
    {"PUT", "/logger", R"({"level": "Loud"})", "level"},
    {"PUT", "/logger", R"({"log_path": 3})", "log_path"},
    {"PUT", "/logger", R"({"level": "Info", "colour": true})", "colour"},
    {"PUT", "/metrics", R"({})", "metrics_path"},
    {"PUT", "/metrics", R"({"metrics_path": 1})", "metrics_path"},
    {"PUT", "/metrics", R"({"metrics_path": "/tmp/m", "extra": 1})", "extra"},
    {"PUT", "/serial", R"({"serial_out_path": 1})", "serial_out_path"},
    {"PUT", "/serial", R"({"serial_out_path": ""})", "serial_out_path"},
    {"PUT", "/serial", R"({"serial_out_path": "/tmp/s", "x": 1})", "x"},
};

TEST_F(ApiTest, UnknownPathIs404AndWrongMethodIs405) {
  start_hearth();
  ApiClient api(socket_);
  HttpReply missing = api.get("/nonexistent");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("fault_message"), std::string::npos);
  HttpReply wrong = api.request("DELETE", "/machine-config");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_NE(wrong.body.find("Allowed methods: GET, PUT, PATCH"), std::string::npos) << wrong.body;
  EXPECT_EQ(process_->terminate().exit_code, 0);
}

TEST_F(ApiTest, BadRequestsGet400NamingTheProblemAndChangeNothing) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  ASSERT_EQ(api.put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})").status, 204);
  const std::string machine_before = api.get("/machine-config").body;
  const std::string config_before = api.get("/vm/config").body;
  for (const auto& bad : kBadRequests) {
    SCOPED_TRACE(fmt::format("{} {} {}", bad.method, bad.path, bad.body));
    HttpReply reply = api.request(bad.method, bad.path, bad.body);
    EXPECT_EQ(reply.status, 400);
    json body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << reply.body;
    ASSERT_TRUE(body.contains("fault_message")) << reply.body;
    EXPECT_NE(body["fault_message"].get<std::string>().find(bad.fault), std::string::npos) << reply.body;
  }
  EXPECT_EQ(api.get("/machine-config").body, machine_before);
  EXPECT_EQ(api.get("/vm/config").body, config_before);
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Not started");
  ProcessResult r = process_->terminate();
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ApiTest, VmConfigRoundTripsThroughAConfigFile) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  ASSERT_EQ(api.put("/boot-source", boot_source("boot").dump()).status, 204);
  ASSERT_EQ(api.put("/machine-config", R"({"vcpu_count": 4, "mem_size_mib": 512})").status, 204);
  ASSERT_EQ(api.put("/drives/data", json{{"drive_id", "data"}, {"path_on_host", disk_}, {"is_root_device", false},
                                        {"is_read_only", true}, {"cache_type", "Writeback"}, {"io_engine", "Async"},
                                        {"rate_limiter", {{"ops", {{"size", 1000}, {"refill_time", 100}}}}}}
                                      .dump())
                .status,
            204);
  const std::string exported = api.get("/vm/config").body;
  process_->terminate();

  // The exported configuration boots the same VM from a file, and exports identically again.
  ProcessResult r = run_hearth_config(json::parse(exported));
  SCOPED_TRACE(exported + "\n" + r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(value_of(r.out, "cpus"), "4");
  EXPECT_EQ(value_of(r.out, "ram_total_mib"), "511");
  EXPECT_NE(r.out.find("virtio_mmio.device=4K@0xd0001000:5"), std::string::npos);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);

  const std::string file = dir_.write("exported.json", exported);
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{hearth_binary(), "--api-sock", socket_, "--config-file", file}, ProcessOptions{});
  ASSERT_TRUE(wait_for_socket(socket_, 10000));
  ApiClient again(socket_);
  EXPECT_EQ(json::parse(again.get("/vm/config").body), json::parse(exported));
  process_->wait();
}

TEST_F(ApiTest, SocketInUseIsRefusedAndStaleSocketIsReplaced) {
  start_hearth();
  ProcessResult second = run_process({hearth_binary(), "--api-sock", socket_});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find(socket_), std::string::npos) << second.err;
  ApiClient api(socket_);
  EXPECT_EQ(api.get("/").status, 200);  // the first one is untouched
  EXPECT_EQ(process_->terminate().exit_code, 0);

  // A socket file nobody listens on (a crashed VMM's) is removed and reused.
  std::filesystem::remove(socket_);
  { ApiClient probe(socket_); }
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  start_hearth();
  EXPECT_EQ(ApiClient(socket_).get("/").status, 200);
  EXPECT_EQ(process_->terminate().exit_code, 0);
}

TEST_F(ApiTest, MetricsFlushToFileAndServePrometheusText) {
  HEARTH_REQUIRE_KVM();
  const std::string metrics = (dir_.path() / "metrics.json").string();
  start_hearth({"--metrics-path", metrics});
  ApiClient api(socket_);
  ASSERT_EQ(api.put("/boot-source", boot_source("boot").dump() ).status, 204);
  ASSERT_EQ(api.put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                        {"boot_args", "console=ttyS0 testguest.hold_ms=4000"}}.dump()).status, 204);
  ASSERT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the 1 s collector has run
  const std::string text = api.get("/metrics").body;
  EXPECT_NE(text.find("# TYPE hearth_api_put_boot_source_count counter"), std::string::npos) << text;
  EXPECT_NE(text.find("hearth_api_put_boot_source_count 2"), std::string::npos) << text;
  EXPECT_NE(text.find("hearth_vcpu_exit_io_out "), std::string::npos) << text;
  EXPECT_EQ(api.put("/actions", R"({"action_type": "FlushMetrics"})").status, 204);
  std::ifstream in(metrics);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  json first = json::parse(line, nullptr, false);
  ASSERT_TRUE(first.is_object()) << line;
  EXPECT_NE(line.find("put_boot_source"), std::string::npos) << line;
  EXPECT_EQ(process_->terminate().exit_code, 0);
}

// Firecracker's Metrics fields: emit_id puts the --id on each line, properties go under "properties".
TEST_F(ApiTest, MetricsLinesCarryTheInstanceIdAndPropertiesWhenAsked) {
  start_hearth();
  const std::string metrics = (dir_.path() / "metrics.json").string();
  ApiClient api(socket_);
  ASSERT_EQ(api.put("/metrics", json{{"metrics_path", metrics}, {"emit_id", true},
                                    {"properties", {{"zone", "eu-1"}}}}.dump()).status, 204);
  EXPECT_EQ(api.put("/metrics", R"({"metrics_path": "/m", "properties": {"zone": 1}})").status, 400);
  ASSERT_EQ(api.put("/actions", R"({"action_type": "FlushMetrics"})").status, 204);
  std::ifstream in(metrics);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const json j = json::parse(line, nullptr, false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j["id"], "api-test") << line;
  EXPECT_EQ(j["properties"], json({{"zone", "eu-1"}})) << line;
  EXPECT_EQ(json::parse(api.get("/vm/config").body)["metrics"]["emit_id"], true);
  EXPECT_EQ(process_->terminate().exit_code, 0);
}

TEST_F(ApiTest, PatchDriveAfterBootSwapsTheFileAndTheGuestSeesTheNewCapacity) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  std::string bigger(2 << 20, '\0');
  bigger[bigger.size() - 512] = 'Z';  // first byte of the new last sector
  const std::string bigger_path = dir_.write("bigger.img", bigger);
  ASSERT_EQ(api.put("/boot-source", boot_source("blk-resize").dump()).status, 204);
  ASSERT_EQ(api.put("/drives/data", json{{"drive_id", "data"}, {"path_on_host", disk_}, {"is_root_device", false},
                                        {"is_read_only", false}}.dump()).status, 204);
  ASSERT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ASSERT_TRUE(process_->wait_for_output("BLK RESIZE READY", 30000)) << "the guest's driver never came up";
  auto missing = api.patch("/drives/data", json{{"drive_id", "data"}, {"path_on_host", "/nonexistent.img"}}.dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(api.patch("/drives/data", json{{"drive_id", "data"}, {"path_on_host", bigger_path}}.dump()).status, 204);
  ProcessResult r = process_->wait();
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK RESIZE READY capacity=2048").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK RESIZE capacity=4096").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK RESIZE last sector byte0=90").size(), 1u);  // 'Z'
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST_F(ApiTest, LoggerMetricsSerialVersionAndPatchMachineConfigSucceed) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  const std::string log = (dir_.path() / "hearth.log").string();
  const std::string metrics = (dir_.path() / "metrics.json").string();
  const std::string serial = (dir_.path() / "serial.out").string();
  EXPECT_EQ(json::parse(api.get("/version").body)["firecracker_version"], json::parse(api.get("/").body)["vmm_version"]);
  EXPECT_EQ(api.put("/logger", json{{"log_path", log}, {"level", "info"}, {"show_level", true},
                                    {"show_log_origin", true}, {"module", "vmm/core"}}.dump()).status, 204);
  EXPECT_EQ(api.put("/metrics", json{{"metrics_path", metrics}}.dump()).status, 204);
  EXPECT_EQ(api.put("/serial", json{{"serial_out_path", serial}}.dump()).status, 204);
  EXPECT_EQ(api.put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128})").status, 204);
  EXPECT_EQ(api.patch("/machine-config", R"({"vcpu_count": 2})").status, 204);
  auto machine = json::parse(api.get("/machine-config").body);
  EXPECT_EQ(machine["vcpu_count"], 2);
  EXPECT_EQ(machine["mem_size_mib"], 128);  // PATCH kept what it did not name
  EXPECT_EQ(api.put("/boot-source", boot_source("boot").dump()).status, 204);
  EXPECT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ProcessResult r = process_->wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // The guest's console went to the serial file, not stdout.
  std::ifstream serial_in(serial);
  std::stringstream console;
  console << serial_in.rdbuf();
  EXPECT_NE(console.str().find("cpus=2"), std::string::npos) << console.str();
  EXPECT_NE(console.str().find("TESTGUEST PASS"), std::string::npos);
  EXPECT_EQ(r.out.find("TESTGUEST"), std::string::npos);
  // The log has the VMM core's lines with level and origin, and nothing from other modules.
  std::ifstream log_in(log);
  std::stringstream log_text;
  log_text << log_in.rdbuf();
  EXPECT_NE(log_text.str().find(":info:vmm.cpp:"), std::string::npos) << log_text.str();
  EXPECT_NE(log_text.str().find("microVM started: 2 vCPU(s), 128 MiB"), std::string::npos) << log_text.str();
  EXPECT_EQ(log_text.str().find("API server listening"), std::string::npos) << log_text.str();  // main.cpp
  // Metrics were flushed at exit, with the API calls counted.
  std::ifstream metrics_in(metrics);
  std::stringstream metrics_text;
  metrics_text << metrics_in.rdbuf();
  EXPECT_NE(metrics_text.str().find("patch_machine_config"), std::string::npos) << metrics_text.str();
}

TEST_F(ApiTest, FailedInstanceStartIsReportedAndTheProcessStaysUsable) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  const std::string not_a_kernel = dir_.write("not-a-kernel", std::string(8192, 'x'));
  ASSERT_EQ(api.put("/boot-source", json{{"kernel_image_path", not_a_kernel}}.dump()).status, 204);
  HttpReply start = api.put("/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(start.status, 400);
  EXPECT_NE(start.body.find("not an ELF64 x86-64 vmlinux or a bzImage"), std::string::npos) << start.body;
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Not started");
  // Fix the configuration and start again in the same process.
  ASSERT_EQ(api.put("/boot-source", boot_source("boot").dump()).status, 204);
  EXPECT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ProcessResult r = process_->wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST_F(ApiTest, FiftyClientsHammerGetAndPatchWhileTheGuestRuns) {
  HEARTH_REQUIRE_KVM();
  start_hearth();
  ApiClient api(socket_);
  // The guest reads its drive in a loop (random 4 KiB reads) for the whole test.
  ASSERT_EQ(api.put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                        {"boot_args", "console=ttyS0 testguest.run=blk-bench testguest.bench_ops=10000000"}}
                                      .dump())
                .status,
            204);
  ASSERT_EQ(api.put("/drives/data", json{{"drive_id", "data"}, {"path_on_host", disk_}, {"is_root_device", false},
                                        {"is_read_only", true}}.dump()).status, 204);
  ASSERT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);

  constexpr int kClients = 50, kRequestsEach = 40;
  std::atomic<int> answered{0}, wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      ApiClient client(socket_);
      for (int i = 0; i < kRequestsEach; ++i) {
        HttpReply reply;
        if ((c + i) % 2) {
          reply = client.get("/");
          if (reply.status == 200 && reply.body.find("\"Running\"") == std::string::npos) ++wrong;
        } else {
          const int ops = 100 + c * kRequestsEach + i;
          reply = client.patch("/drives/data", json{{"drive_id", "data"},
                                                    {"rate_limiter", {{"ops", {{"size", ops}, {"refill_time", 100}}}}}}
                                                  .dump());
          if (reply.status != 204) ++wrong;
        }
        if (reply.status != 0) ++answered;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequestsEach);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(json::parse(api.get("/").body)["state"], "Running");
  // Device counters reach the registry through a 1 s collector; wait for the guest's reads to show.
  uint64_t reads = 0;
  std::string metrics;
  for (int i = 0; i < 100 && reads == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    metrics = api.get("/metrics").body;
    const auto pos = metrics.find("\nhearth_block_data_read_count ");
    if (pos != std::string::npos) reads = std::stoull(metrics.substr(pos + 30));
  }
  ProcessResult r = process_->terminate();
  EXPECT_GT(reads, 0u) << "the guest did no I/O during the test\n" << metrics << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace hearth::test
