// virtio-rng on Hearth through the device model: the config-file section and PUT /entropy, the test
// guest's rng self-tests, the rate limiter seen through the metrics, and bad bodies named.
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

ProcessResult run_rng_guest(const std::string& test, const json& entropy) {
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=" + test);
  config["entropy"] = entropy;
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(180000);
  return run_hearth_config(config, {}, opts);
}

// Runs guest self-test `test` against a config-file device; it must pass, printing `verdict` once.
void expect_guest_passes(const std::string& test, const std::string& verdict) {
  ProcessResult r = run_rng_guest(test, json::object());
  SCOPED_TRACE(r.out + r.err);
  ASSERT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, verdict).size(), 1u);
}

TEST(Rng, GuestReadsRandomBytesFromTheConfigFileDevice) {
  HEARTH_REQUIRE_KVM();
  expect_guest_passes("rng", "rng: bytes=4096 sha256=");
}

TEST(Rng, HostileDriverGetsErrorsAndTheDeviceRecovers) {
  HEARTH_REQUIRE_KVM();
  expect_guest_passes("rng-hostile", "rng-hostile: ok cases=");
}

TEST(Rng, NoEntropySectionMeansNoDevice) {
  HEARTH_REQUIRE_KVM();
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=rng");
  ProcessResult r = run_hearth_config(config);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST FAIL rng: no virtio-rng device").size(), 1u) << r.out;
}

class RngApi : public ::testing::Test {
 protected:
  void start() {
    socket_ = (dir_.path() / "api.sock").string();
    metrics_ = (dir_.path() / "metrics.json").string();
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(180000);
    process_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{hearth_binary(), "--api-sock", socket_, "--metrics-path", metrics_}, opts);
    ASSERT_TRUE(wait_for_socket(socket_, 10000));
  }
  TempDir dir_;
  std::string socket_, metrics_;
  std::unique_ptr<BackgroundProcess> process_;
};

// Sum of one counter over the metrics file's lines (each line holds the deltas since the last).
uint64_t metric_total(const std::string& path, const std::string& group, const std::string& name) {
  std::ifstream in(path);
  uint64_t total = 0;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains(group) && j[group].contains(name)) total += j[group][name].get<uint64_t>();
  }
  return total;
}

TEST_F(RngApi, BadEntropyBodiesAreNamedAndChangeNothing) {
  start();
  ApiClient api(socket_);
  const std::pair<std::string, std::string> bad[] = {
      {R"({"rate_limter": {}})", "rate_limter"},
      {R"({"rate_limiter": {"bandwidth": {"size": "big", "refill_time": 100}}})", "entropy.rate_limiter.bandwidth.size"},
      {R"({"rate_limiter": 7})", "entropy.rate_limiter"},
      {R"([1])", "entropy"},
  };
  for (const auto& [body, field] : bad) {
    HttpReply r = api.put("/entropy", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(field), std::string::npos) << body << " -> " << r.body;
  }
  EXPECT_FALSE(json::parse(api.get("/vm/config").body).contains("entropy"));
  EXPECT_EQ(api.put("/entropy", R"({"rate_limiter": {"bandwidth": {"size": 1024, "refill_time": 1000}}})").status, 204);
  auto config = json::parse(api.get("/vm/config").body);
  EXPECT_EQ(config["entropy"]["rate_limiter"]["bandwidth"]["size"], 1024);
  EXPECT_EQ(api.request("GET", "/entropy").status, 405);
  process_->terminate();
}

TEST_F(RngApi, RateLimiterThrottlesTheGuestAndTheMetricsShowIt) {
  HEARTH_REQUIRE_KVM();
  start();
  ApiClient api(socket_);
  ASSERT_EQ(api.put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                         {"boot_args", "console=ttyS0 testguest.run=rng-rate"}}.dump()).status,
            204);
  ASSERT_EQ(api.put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64})").status, 204);
  // 1 KiB/s: the guest's 2 KiB cannot arrive in under a second.
  ASSERT_EQ(api.put("/entropy", R"({"rate_limiter": {"bandwidth": {"size": 1024, "refill_time": 1000}}})").status, 204);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(api.put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ASSERT_TRUE(process_->wait_for_output("TESTGUEST PASS", 150000));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  // The guest resets after its verdict; hearth writes its final metrics line on the way out.
  ProcessResult r = process_->wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(metric_total(metrics_, "entropy", "rate_limiter_throttled"), 0u);
  EXPECT_GE(metric_total(metrics_, "entropy", "entropy_bytes"), 2048u);
}

}  // namespace
}  // namespace hearth::test
