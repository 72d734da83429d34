#include "api/router.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/unit/api/fake_controller.h"

namespace hearth::api {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  HttpResponse send(std::string method, std::string path,
                    std::optional<std::string> body = std::nullopt) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    return router.handle(r);
  }
  // The fault message of a response, checking it is a JSON fault with `status`.
  std::string fault(const HttpResponse& r, int status = 400) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j.size(), 1u);
    return j.value("fault_message", "<none>");
  }

  testing::FakeController fake;
  metrics::Registry registry;
  Router router{Router::direct(fake), registry};
};

TEST_F(RouterTest, InstanceInfoAndVersion) {
  HttpResponse r = send("GET", "/");
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["id"], "anonymous-instance");
  EXPECT_EQ(j["state"], "Not started");
  EXPECT_EQ(j["vmm_version"], "0.1.0");
  EXPECT_EQ(j["app_name"], "Hearth");
  r = send("GET", "/version");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body), nlohmann::json({{"firecracker_version", "0.1.0"}}));
}

TEST_F(RouterTest, BootSource) {
  HttpResponse r = send("PUT", "/boot-source",
                        R"({"kernel_image_path": "/k", "boot_args": "quiet", "boot_protocol": "pvh"})");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  ASSERT_TRUE(fake.boot);
  EXPECT_EQ(fake.boot->boot_args, "quiet");
  EXPECT_EQ(fake.boot->boot_protocol, BootProtocol::kPvh);

  EXPECT_EQ(fault(send("PUT", "/boot-source", "{")).rfind("boot-source: invalid JSON at line 1 column 2", 0), 0u);
  EXPECT_EQ(fault(send("PUT", "/boot-source", R"({"kernel_image_path": 1})")),
            "boot-source.kernel_image_path: expected a string, got unsigned integer");
  EXPECT_EQ(fault(send("PUT", "/boot-source", R"({"kernel_image_path": "/k", "x": 1})")),
            "boot-source: unknown field 'x'");
  EXPECT_EQ(fault(send("PUT", "/boot-source", "{}")),
            "boot-source: missing required field 'kernel_image_path'");
  EXPECT_EQ(fault(send("PUT", "/boot-source")), "Empty PUT request.");
  EXPECT_EQ(fake.calls.size(), 1u);  // bad bodies never reach the controller
}

TEST_F(RouterTest, MachineConfig) {
  fake.vm.machine.vcpu_count = 3;
  HttpResponse r = send("GET", "/machine-config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["vcpu_count"], 3);

  EXPECT_EQ(send("PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})").status, 204);
  EXPECT_EQ(fake.machine->mem_size_mib, 256u);
  EXPECT_EQ(send("PATCH", "/machine-config", R"({"mem_size_mib": 512})").status, 204);
  EXPECT_FALSE(fake.machine_patch->vcpu_count);
  EXPECT_EQ(fake.machine_patch->mem_size_mib, 512u);

  EXPECT_EQ(fault(send("PUT", "/machine-config", R"({"vcpu_count": 0, "mem_size_mib": 2})")),
            "machine-config.vcpu_count: must be between 1 and 32, got 0");
  EXPECT_EQ(fault(send("PUT", "/machine-config", R"({"vcpu_count": 1})")),
            "machine-config: missing required field 'mem_size_mib'");
  EXPECT_EQ(fault(send("PATCH", "/machine-config", R"({"vcpus": 1})")),
            "machine-config: unknown field 'vcpus'");
  EXPECT_EQ(fault(send("PATCH", "/machine-config", R"({"smt": "no"})")),
            "machine-config.smt: expected a boolean, got string");
  EXPECT_EQ(fault(send("GET", "/machine-config", "{}")), "GET request cannot have a body.");
  EXPECT_EQ(fault(send("PATCH", "/machine-config")), "Empty PATCH request.");
}

TEST_F(RouterTest, Drives) {
  EXPECT_EQ(send("PUT", "/drives/root",
                 R"({"drive_id": "root", "path_on_host": "/r", "is_root_device": true})").status,
            204);
  EXPECT_EQ(fake.drive->path_on_host, "/r");
  EXPECT_EQ(send("PATCH", "/drives/root", R"({"drive_id": "root", "path_on_host": "/n"})").status, 204);
  EXPECT_EQ(fake.drive_patch->path_on_host, "/n");

  EXPECT_EQ(fault(send("PUT", "/drives/other",
                       R"({"drive_id": "root", "path_on_host": "/r", "is_root_device": true})")),
            "drive: drive_id 'root' in the body does not match 'other' in the path");
  EXPECT_EQ(fault(send("PUT", "/drives/a!b", "{}")),
            "drive: the drive_id in the path: may contain only letters, digits and '_'");
  EXPECT_EQ(fault(send("PUT", "/drives/root", R"({"drive_id": "root", "is_root_device": true})")),
            "drive: missing required field 'path_on_host'");
  EXPECT_EQ(fault(send("PUT", "/drives/root",
                       R"({"drive_id": "root", "path_on_host": "/r", "is_root_device": 1})")),
            "drive.is_root_device: expected a boolean, got unsigned integer");
  EXPECT_EQ(fault(send("PATCH", "/drives/root", R"({"drive_id": "root", "is_read_only": true})")),
            "drive: unknown field 'is_read_only'");
  EXPECT_EQ(fault(send("PUT", "/drives", R"({})"), 404), "Invalid request method and/or path: PUT /drives.");
}

TEST_F(RouterTest, DrivesAcceptFirecrackersNullSocketAndNonRootPartuuid) {
  EXPECT_EQ(send("PUT", "/drives/data",
                 R"({"drive_id": "data", "path_on_host": "/d", "is_root_device": false, "socket": null,
                     "partuuid": "0eaa91a0-01", "is_read_only": true})").status,
            204);
  ASSERT_TRUE(fake.drive);
  EXPECT_EQ(fake.drive->drive_id, "data");
  EXPECT_FALSE(fake.drive->is_root_device);
  EXPECT_EQ(fake.drive->partuuid, "0eaa91a0-01");
  EXPECT_EQ(fault(send("PUT", "/drives/data",
                       R"({"drive_id": "data", "path_on_host": "/d", "is_root_device": false, "socket": "/s"})")),
            "drive.socket: vhost-user drives are not supported");
}

TEST_F(RouterTest, Actions) {
  for (auto [action, call] : {std::pair{"InstanceStart", "instance_start"},
                              {"SendCtrlAltDel", "send_ctrl_alt_del"},
                              {"FlushMetrics", "flush_metrics"}}) {
    EXPECT_EQ(send("PUT", "/actions", fmt::format(R"({{"action_type": "{}"}})", action)).status, 204);
    EXPECT_EQ(fake.calls.back(), call);
  }
  EXPECT_EQ(fault(send("PUT", "/actions", R"({"action_type": "Reboot"})")),
            "actions.action_type: must be one of \"InstanceStart\", \"SendCtrlAltDel\", "
            "\"FlushMetrics\", got \"Reboot\"");
  EXPECT_EQ(fault(send("PUT", "/actions", R"({})")), "actions: missing required field 'action_type'");
  EXPECT_EQ(fault(send("PUT", "/actions", R"({"action_type": 1})")),
            "actions.action_type: expected a string, got unsigned integer");
}

TEST_F(RouterTest, VmStateAndConfig) {
  EXPECT_EQ(send("PATCH", "/vm", R"({"state": "Paused"})").status, 204);
  EXPECT_EQ(fake.calls.back(), "pause");
  EXPECT_EQ(send("PATCH", "/vm", R"({"state": "Resumed"})").status, 204);
  EXPECT_EQ(fake.calls.back(), "resume");
  EXPECT_EQ(fault(send("PATCH", "/vm", R"({"state": "Stopped"})")),
            "vm.state: must be one of \"Paused\", \"Resumed\", got \"Stopped\"");

  fake.vm.boot_source = BootSourceConfig{"/k", std::nullopt, std::nullopt, BootProtocol::kLinux64};
  HttpResponse r = send("GET", "/vm/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body), to_json(fake.vm));
}

TEST_F(RouterTest, LoggerMetricsSerial) {
  EXPECT_EQ(send("PUT", "/logger", R"({"log_path": "/l", "level": "warning"})").status, 204);
  EXPECT_EQ(fake.logger->level, LogLevel::kWarning);
  EXPECT_EQ(send("PUT", "/metrics", R"({"metrics_path": "/m"})").status, 204);
  EXPECT_EQ(fake.metrics->metrics_path, "/m");
  EXPECT_EQ(send("PUT", "/serial", R"({"serial_out_path": "/s"})").status, 204);
  EXPECT_EQ(fake.serial->serial_out_path, "/s");
  EXPECT_EQ(fault(send("PUT", "/serial", R"({"path": "/s"})")), "serial: unknown field 'path'");
  // As Firecracker: no serial_out_path keeps the output on stdout; a bucket of size or refill_time 0 limits nothing.
  EXPECT_EQ(send("PUT", "/serial", R"({})").status, 204);
  EXPECT_EQ(fake.serial->serial_out_path, "");
  EXPECT_EQ(send("PUT", "/serial", R"({"serial_out_path": "/t", "rate_limiter": null})").status, 204);
  EXPECT_EQ(fake.serial->serial_out_path, "/t");
  EXPECT_EQ(send("PUT", "/serial", R"({"rate_limiter": {"size": 0, "refill_time": 100}})").status, 204);
  EXPECT_EQ(send("PUT", "/serial", R"({"rate_limiter": {"size": 100, "refill_time": 0}})").status, 204);
  EXPECT_EQ(fault(send("PUT", "/serial", R"({"rate_limiter": {"size": 100, "refill_time": 10}})")),
            "serial.rate_limiter: rate-limiting serial output is not supported yet");
  EXPECT_EQ(fault(send("PUT", "/serial", R"({"rate_limiter": {"size": 100}})")),
            "serial.rate_limiter: missing required field 'refill_time'");
  EXPECT_EQ(fault(send("PUT", "/serial", R"({"serial_out_path": ""})")), "serial.serial_out_path: must not be empty");
  EXPECT_EQ(fault(send("PUT", "/logger", R"({"level": "loud"})")).substr(0, 26), "logger.level: must be one ");
  EXPECT_EQ(fault(send("PUT", "/metrics", R"([])")), "metrics: expected an object, got array");
}

TEST_F(RouterTest, PrometheusCountsRequests) {
  send("PUT", "/boot-source", "{}");
  send("GET", "/");
  HttpResponse r = send("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(r.body.find("hearth_api_put_boot_source_count 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("hearth_api_put_boot_source_fails 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("hearth_api_get_instance_count 1\n"), std::string::npos);
  send("P`T", "/boot-source", "{}");  // odd methods must not become metric names
  send("GET", "/whatever");
  EXPECT_EQ(registry.counter("api.invalid.count").get(), 2u);
}

// A registry kind's sub-resources reach the controller with kind, instance id and sub-path; the rest is 405.
TEST_F(RouterTest, DeviceKindPatchAndGetReachTheController) {
  EXPECT_EQ(send("PATCH", "/balloon", R"({"amount_mib": 16})").status, 204);
  ASSERT_EQ(fake.device_patches.size(), 1u);
  EXPECT_EQ(fake.device_patches[0].name, "balloon");
  EXPECT_EQ(fake.device_patches[0].id, "");
  EXPECT_EQ(fake.device_patches[0].patch["amount_mib"], 16);
  const HttpResponse stats = send("GET", "/balloon/statistics");
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(nlohmann::json::parse(stats.body), (nlohmann::json{{"name", "balloon"}, {"id", ""}, {"sub", "statistics"}}));
  EXPECT_EQ(send("PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0"})").status, 204);
  EXPECT_EQ(fake.device_patches.back().name, "network-interfaces");
  EXPECT_EQ(fake.device_patches.back().id, "eth0");
  EXPECT_EQ(fault(send("PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth1"})")),
            "network-interfaces: iface_id 'eth1' in the body does not match 'eth0' in the path");
  EXPECT_EQ(fault(send("PATCH", "/entropy", "{}"), 405), "Invalid request method and/or path: PATCH /entropy. Allowed methods: PUT.");
  EXPECT_EQ(fake.device_patches.size(), 2u);  // refused bodies never reach it
}

TEST_F(RouterTest, UnsupportedAndInvalid) {
  EXPECT_EQ(fault(send("PUT", "/pmem/x", "{}")), "pmem is not supported yet");
  // Registry kinds: a multi-instance one validates the body; a single-instance one has no /<id>.
  EXPECT_EQ(fault(send("PUT", "/network-interfaces/x", "{}")), "network-interfaces: missing required field 'iface_id'");
  EXPECT_EQ(fault(send("PUT", "/network-interfaces/x", R"({"iface_id": "y", "host_dev_name": "t"})")),
            "network-interfaces: iface_id 'y' in the body does not match 'x' in the path");
  EXPECT_EQ(fault(send("PUT", "/balloon/x", "{}"), 404), "Invalid request method and/or path: PUT /balloon/x.");
  EXPECT_EQ(fault(send("GET", "/nope"), 404), "Invalid request method and/or path: GET /nope.");
  EXPECT_EQ(fault(send("DELETE", "/boot-source"), 405),
            "Invalid request method and/or path: DELETE /boot-source. Allowed methods: PUT.");
  EXPECT_EQ(fault(send("GET", "/boot-source"), 405),
            "Invalid request method and/or path: GET /boot-source. Allowed methods: PUT.");
  EXPECT_EQ(fault(send("DELETE", "/machine-config"), 405),
            "Invalid request method and/or path: DELETE /machine-config. Allowed methods: GET, PUT, PATCH.");
  EXPECT_EQ(fault(send("GET", "/vm/config/extra"), 404), "Invalid request method and/or path: GET /vm/config/extra.");
  EXPECT_TRUE(fake.calls.empty());
}

TEST_F(RouterTest, InvalidUtf8IsEchoedSafely) {
  // nlohmann quotes the bad byte in its parse error; the fault body must still be valid JSON.
  std::string m = fault(send("PUT", "/boot-source", "{\"a\": t\xac}"));
  EXPECT_NE(m.find("\xEF\xBF\xBD"), std::string::npos) << m;
  EXPECT_EQ(fault(send("GET", "/\xff"), 404), "Invalid request method and/or path: GET /\xEF\xBF\xBD.");
}

TEST_F(RouterTest, ControllerFaultPassesThrough) {
  fake.fail = Fault{400, "PUT /boot-source is not allowed after boot"};
  EXPECT_EQ(fault(send("PUT", "/boot-source", R"({"kernel_image_path": "/k"})")),
            "PUT /boot-source is not allowed after boot");
  fake.fail = Fault{503, "busy"};
  EXPECT_EQ(fault(send("GET", "/machine-config"), 503), "busy");
}

TEST_F(RouterTest, ShutDownDispatchAnswers503) {
  Router closed([](const RequestQueue::Task&) { return false; }, registry);
  HttpRequest r;
  r.method = "GET";
  r.path = "/";
  EXPECT_EQ(fault(closed.handle(r), 503), "the VMM is shutting down");
}

}  // namespace
}  // namespace hearth::api

namespace hearth::api {
namespace {

TEST_F(RouterTest, SnapshotCreateBodies) {
  ASSERT_EQ(send("PUT", "/snapshot/create", R"({"snapshot_path":"/s","mem_file_path":"/m"})").status, 204);
  ASSERT_TRUE(fake.snapshot_create);
  EXPECT_FALSE(fake.snapshot_create->diff);  // Full is the default
  EXPECT_EQ(fake.snapshot_create->snapshot_path, "/s");
  EXPECT_EQ(fake.snapshot_create->mem_file_path, "/m");
  ASSERT_EQ(send("PUT", "/snapshot/create",
                 R"({"snapshot_type":"Diff","snapshot_path":"/s","mem_file_path":"/m","version":"1.0.0"})").status,
            204);
  EXPECT_TRUE(fake.snapshot_create->diff);
  fake.calls.clear();
  EXPECT_EQ(fault(send("PUT", "/snapshot/create", R"({"snapshot_type":"Half","snapshot_path":"/s","mem_file_path":"/m"})")),
            "snapshot/create.snapshot_type: must be \"Full\" or \"Diff\", got \"Half\"");
  EXPECT_NE(fault(send("PUT", "/snapshot/create", R"({"snapshot_path":"/s"})")).find("mem_file_path"), std::string::npos);
  EXPECT_NE(fault(send("PUT", "/snapshot/create", R"({"snapshot_path":"/s","mem_file_path":"/s"})")).find("must differ"),
            std::string::npos);
  EXPECT_NE(fault(send("PUT", "/snapshot/create", R"({"snapshot_path":"/s","mem_file_path":"/m","extra":1})")).find("extra"),
            std::string::npos);
  EXPECT_EQ(fault(send("GET", "/snapshot/create"), 405),
            "Invalid request method and/or path: GET /snapshot/create. Allowed methods: PUT.");
  EXPECT_EQ(fault(send("PUT", "/snapshot/other", "{}"), 404), "Invalid request method and/or path: PUT /snapshot/other.");
  EXPECT_TRUE(fake.calls.empty());
}

TEST_F(RouterTest, SnapshotLoadBodiesIncludingFirecrackersOlderSpellings) {
  ASSERT_EQ(send("PUT", "/snapshot/load",
                 R"({"snapshot_path":"/s","mem_backend":{"backend_type":"Uffd","backend_path":"/sock"},
                     "track_dirty_pages":true,"resume_vm":true})").status,
            204);
  ASSERT_TRUE(fake.snapshot_load);
  EXPECT_TRUE(fake.snapshot_load->uffd);
  EXPECT_EQ(fake.snapshot_load->backend_path, "/sock");
  EXPECT_TRUE(fake.snapshot_load->track_dirty_pages);
  EXPECT_TRUE(fake.snapshot_load->resume_vm);
  ASSERT_EQ(send("PUT", "/snapshot/load", R"({"snapshot_path":"/s","mem_file_path":"/m","enable_diff_snapshots":true})")
                .status,
            204);
  EXPECT_FALSE(fake.snapshot_load->uffd);
  EXPECT_EQ(fake.snapshot_load->backend_path, "/m");
  EXPECT_TRUE(fake.snapshot_load->track_dirty_pages);
  EXPECT_FALSE(fake.snapshot_load->resume_vm);
  fake.calls.clear();
  EXPECT_NE(fault(send("PUT", "/snapshot/load", R"({"snapshot_path":"/s"})")).find("exactly one of mem_backend"),
            std::string::npos);
  EXPECT_NE(fault(send("PUT", "/snapshot/load",
                       R"({"snapshot_path":"/s","mem_file_path":"/m","mem_backend":{"backend_type":"File","backend_path":"/m"}})"))
                .find("exactly one"),
            std::string::npos);
  EXPECT_EQ(fault(send("PUT", "/snapshot/load", R"({"snapshot_path":"/s","mem_backend":{"backend_type":"Tape","backend_path":"/m"}})")),
            "snapshot/load.mem_backend.backend_type: must be \"File\" or \"Uffd\", got \"Tape\"");
  EXPECT_NE(fault(send("PUT", "/snapshot/load", R"({"snapshot_path":"/s","mem_backend":{"backend_type":"File"}})"))
                .find("backend_path"),
            std::string::npos);
  EXPECT_NE(fault(send("PUT", "/snapshot/load", R"({"snapshot_path":"/s","mem_file_path":"/m","resume_vm":"yes"})"))
                .find("resume_vm"),
            std::string::npos);
  EXPECT_NE(fault(send("PUT", "/snapshot/load",
                       R"({"snapshot_path":"/s","mem_file_path":"/m","track_dirty_pages":true,"enable_diff_snapshots":false})"))
                .find("contradicts"),
            std::string::npos);
  EXPECT_TRUE(fake.calls.empty());
}

}  // namespace
}  // namespace hearth::api
