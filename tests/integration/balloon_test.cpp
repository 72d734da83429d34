// virtio-balloon on Hearth with the test guest's `balloon` self-tests: inflating lowers the process RSS
// (measured from /proc), deflating gives the pages back, deflate_on_oom, statistics at the polling interval,
// free page reporting, a hostile driver, the API's refusals, and a snapshot round trip.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;
constexpr int kGuestMs = 120000;  // guest code is emulated here: generous, never a speed assertion

class BalloonVm {
 public:
  BalloonVm(const json& balloon, const std::string& args, uint32_t mem_mib = 256) {
    socket_ = (dir_.path() / "api.sock").string();
    const std::string config_path = (dir_.path() / "vm.json").string();
    auto config = testguest_config(1, mem_mib, "console=ttyS0 testguest.run=" + args);
    if (!balloon.is_null()) config["balloon"] = balloon;
    std::ofstream(config_path) << config.dump();
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(240000);
    std::vector<std::string> argv{hearth_binary(), "--api-sock", socket_};
    if (!args.empty()) argv.insert(argv.end(), {"--config-file", config_path});  // empty: a bare process
    process_ = std::make_unique<BackgroundProcess>(argv, opts);
    api_ready_ = wait_for_socket(socket_, 10000);
    api = std::make_unique<ApiClient>(socket_);
  }
  bool ready() const { return api_ready_; }
  bool wait(const std::string& text) { return process_->wait_for_output(text, kGuestMs); }
  // Waits until `text` has appeared `n` times on stdout.
  bool wait_count(const std::string& text, size_t n) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kGuestMs);
    while (std::chrono::steady_clock::now() < end) {
      const std::string out = process_->output();
      size_t count = 0;
      for (size_t pos = out.find(text); pos != std::string::npos; pos = out.find(text, pos + 1)) ++count;
      if (count >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  size_t rss_mib() const { return rss_kib(process_->pid()) / 1024; }
  std::string output() const { return process_->output(); }
  json get(const std::string& path) { return json::parse(api->get(path).body, nullptr, false); }
  ProcessResult stop() { return process_->terminate(); }

  std::unique_ptr<ApiClient> api;

 private:
  TempDir dir_;
  std::string socket_;
  bool api_ready_ = false;
  std::unique_ptr<BackgroundProcess> process_;
};

json balloon_body(uint32_t amount_mib, bool deflate_on_oom, uint32_t stats_s, bool reporting = false) {
  return {{"amount_mib", amount_mib},
          {"deflate_on_oom", deflate_on_oom},
          {"stats_polling_interval_s", stats_s},
          {"free_page_reporting", reporting}};
}

TEST(Balloon, InflateLowersRssDeflateGivesPagesBackStatisticsArrive) {
  HEARTH_REQUIRE_KVM();
  BalloonVm vm(balloon_body(0, false, 1), "balloon testguest.balloon_touch_mib=64 testguest.balloon_secs=100");
  ASSERT_TRUE(vm.ready());
  ASSERT_TRUE(vm.wait("balloon: actual=0 target=0")) << vm.output();
  const size_t before = vm.rss_mib();
  ASSERT_EQ(vm.api->patch("/balloon", R"({"amount_mib": 48})").status, 204);
  ASSERT_TRUE(vm.wait("balloon: actual=12288 target=12288")) << vm.output();
  const size_t inflated = vm.rss_mib();
  EXPECT_GE(before, inflated + 44) << "RSS before " << before << " MiB, with the balloon at 48 MiB " << inflated;
  EXPECT_EQ(vm.get("/balloon")["amount_mib"], 48);

  // Statistics: the guest's numbers, refreshed every second (its minor_faults field counts its reports).
  json s = vm.get("/balloon/statistics");
  EXPECT_EQ(s["target_pages"], 12288);
  EXPECT_EQ(s["actual_pages"], 12288);
  EXPECT_EQ(s["target_mib"], 48);
  EXPECT_EQ(s["actual_mib"], 48);
  EXPECT_LE(s["total_memory"].get<uint64_t>(), 256ull << 20);  // the guest's e820 RAM, less the low hole
  EXPECT_GE(s["total_memory"].get<uint64_t>(), 250ull << 20);
  EXPECT_LE(s["free_memory"].get<uint64_t>(), 256ull << 20);
  EXPECT_GT(s["free_memory"].get<uint64_t>(), 100ull << 20);
  const uint64_t reports = s["minor_faults"].get<uint64_t>();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  const uint64_t later = vm.get("/balloon/statistics")["minor_faults"].get<uint64_t>();
  EXPECT_GE(later, reports + 2);
  EXPECT_LE(later, reports + 5);

  // Statistics cannot be switched off after boot; the interval can change.
  EXPECT_EQ(vm.api->patch("/balloon/statistics", R"({"stats_polling_interval_s": 0})").status, 400);
  EXPECT_EQ(vm.api->patch("/balloon/statistics", R"({"stats_polling_interval_s": 2})").status, 204);
  EXPECT_EQ(vm.get("/vm/config")["balloon"]["stats_polling_interval_s"], 2);
  EXPECT_EQ(vm.api->patch("/balloon", R"({"amount_mib": 257})").status, 400);

  ASSERT_EQ(vm.api->patch("/balloon", R"({"amount_mib": 0})").status, 204);
  ASSERT_TRUE(vm.wait_count("balloon: actual=0 target=0 zero_bad=0", 2)) << vm.output();
  // The guest wrote each page it took back: they are host memory again.
  EXPECT_GE(vm.rss_mib(), inflated + 40);
  EXPECT_EQ(vm.get("/vm/config")["balloon"]["amount_mib"], 0);
  vm.stop();
}

TEST(Balloon, DeflateOnOomLetsTheGuestTakePagesBack) {
  HEARTH_REQUIRE_KVM();
  const std::string args = "balloon testguest.balloon_touch_mib=40 testguest.balloon_oom_mib=16 testguest.balloon_secs=100";
  {
    BalloonVm vm(balloon_body(32, true, 0), args);
    ASSERT_TRUE(vm.ready());
    ASSERT_TRUE(vm.wait("balloon: oom deflated=4096 actual=4096 zero_bad=0")) << vm.output();
    EXPECT_EQ(vm.get("/balloon")["amount_mib"], 32);  // the target stays; the guest holds less
    vm.stop();
  }
  BalloonVm vm(balloon_body(32, false, 0), args);
  ASSERT_TRUE(vm.ready());
  ASSERT_TRUE(vm.wait("balloon: oom no-deflate")) << vm.output();
  EXPECT_EQ(vm.api->get("/balloon/statistics").status, 400);  // not enabled
  vm.stop();
}

TEST(Balloon, FreePageReportingLowersRssWithoutATarget) {
  HEARTH_REQUIRE_KVM();
  BalloonVm vm(balloon_body(0, false, 0, true),
               "balloon testguest.balloon_touch_mib=64 testguest.balloon_report_mib=48 "
               "testguest.balloon_report_delay_ms=3000 testguest.balloon_secs=100");
  ASSERT_TRUE(vm.ready());
  ASSERT_TRUE(vm.wait("balloon: touched=64 MiB")) << vm.output();
  const size_t before = vm.rss_mib();
  ASSERT_TRUE(vm.wait("balloon: reported=48 MiB first_qword=0x0")) << vm.output();
  EXPECT_GE(before, vm.rss_mib() + 44) << "RSS before " << before << " MiB";
  vm.stop();
}

TEST(Balloon, HostileDriverCannotCrashOrDiscardOutsideRam) {
  HEARTH_REQUIRE_KVM();
  BalloonVm vm(balloon_body(0, false, 0, true), "balloon-hostile", 128);
  ASSERT_TRUE(vm.ready());
  ASSERT_TRUE(vm.wait("balloon-hostile: outside-ram")) << vm.output();
  EXPECT_LT(vm.rss_mib() * 1024, kHearthRssBoundKib + (128u << 10));  // guest RAM plus hearth's own bound
  ASSERT_TRUE(vm.wait("balloon-hostile: ok cases=4")) << vm.output();
  ASSERT_TRUE(vm.wait("TESTGUEST PASS")) << vm.output();
  ProcessResult r = vm.stop();
  EXPECT_FALSE(r.signaled) << r.err;
}

TEST(Balloon, SnapshotRoundTripKeepsTargetActualAndStatistics) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string state = (dir.path() / "vm.state").string(), mem = (dir.path() / "vm.mem").string();
  {
    BalloonVm vm(balloon_body(0, false, 1), "balloon testguest.balloon_touch_mib=16 testguest.balloon_secs=200", 128);
    ASSERT_TRUE(vm.ready());
    ASSERT_TRUE(vm.wait("balloon: actual=0 target=0")) << vm.output();
    ASSERT_EQ(vm.api->patch("/balloon", R"({"amount_mib": 8})").status, 204);
    ASSERT_TRUE(vm.wait("balloon: actual=2048 target=2048")) << vm.output();
    ASSERT_EQ(vm.api->patch("/vm", R"({"state":"Paused"})").status, 204);
    const HttpReply r =
        vm.api->put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
    ASSERT_EQ(r.status, 204) << r.body;
    vm.stop();
  }
  BalloonVm vm(json(), "", 128);  // a bare process: the balloon comes from the snapshot
  ASSERT_TRUE(vm.ready());
  const json body = {{"snapshot_path", state},
                     {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}},
                     {"resume_vm", true}};
  ASSERT_EQ(vm.api->put("/snapshot/load", body.dump()).status, 204);
  EXPECT_EQ(vm.get("/balloon")["amount_mib"], 8);
  const json s = vm.get("/balloon/statistics");
  EXPECT_EQ(s["actual_pages"], 2048);
  EXPECT_EQ(s["target_pages"], 2048);
  ASSERT_TRUE(s.contains("minor_faults")) << s.dump();
  // The held statistics buffer survived: the device asks again and fresh numbers arrive.
  const uint64_t reports = s["minor_faults"].get<uint64_t>();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_GE(vm.get("/balloon/statistics")["minor_faults"].get<uint64_t>(), reports + 2);
  // The restored guest keeps following the target.
  ASSERT_EQ(vm.api->patch("/balloon", R"({"amount_mib": 0})").status, 204);
  ASSERT_TRUE(vm.wait("balloon: actual=0 target=0 zero_bad=0")) << vm.output();
  vm.stop();
}

TEST(Balloon, ApiRefusalsNameTheField) {
  TempDir dir;
  const std::string socket = (dir.path() / "api.sock").string();
  BackgroundProcess p({hearth_binary(), "--api-sock", socket}, ProcessOptions{});
  ASSERT_TRUE(wait_for_socket(socket, 10000));
  ApiClient api(socket);
  EXPECT_EQ(api.get("/balloon").status, 400);  // none configured
  const std::pair<std::string, std::string> bad[] = {
      {R"({"amount_mib": 1})", "deflate_on_oom"},
      {R"({"amount_mib": -1, "deflate_on_oom": true})", "balloon.amount_mib"},
      {R"({"amount_mib": 1, "deflate_on_oom": true, "stats_polling_interval_s": 65536})", "balloon.stats_polling_interval_s"},
      {R"({"amount_mib": 1, "deflate_on_oom": true, "free_page_hinting": true})", "balloon.free_page_hinting"},
  };
  for (const auto& [body, field] : bad) {
    HttpReply r = api.put("/balloon", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(field), std::string::npos) << body << " -> " << r.body;
  }
  EXPECT_EQ(api.put("/balloon", R"({"amount_mib": 8, "deflate_on_oom": true})").status, 204);
  EXPECT_EQ(json::parse(api.get("/balloon").body)["amount_mib"], 8);
  // Before boot PATCH changes the section, statistics included; GET of statistics waits for the guest.
  EXPECT_EQ(api.patch("/balloon", R"({"amount_mib": 16})").status, 204);
  EXPECT_EQ(api.patch("/balloon/statistics", R"({"stats_polling_interval_s": 5})").status, 204);
  const json config = json::parse(api.get("/vm/config").body);
  EXPECT_EQ(config["balloon"]["amount_mib"], 16);
  EXPECT_EQ(config["balloon"]["stats_polling_interval_s"], 5);
  EXPECT_EQ(api.get("/balloon/statistics").status, 400);
  EXPECT_EQ(api.patch("/balloon", R"({"amount_mib": "x"})").status, 400);
  p.terminate();
}

}  // namespace
}  // namespace hearth::test
