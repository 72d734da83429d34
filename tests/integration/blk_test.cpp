// virtio-blk end to end: the test guest's driver against Hearth's device, both io engines.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;

constexpr size_t kImageBytes = 64 * 1024;  // the guest's SHA-256 is slow under nested KVM; keep it small

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string bytes(n, '\0');
  for (auto& b : bytes) b = static_cast<char>(gen() & 0xff);
  return bytes;
}

std::string sha256_of(const std::string& path) {
  ProcessResult r = run_process({"/usr/bin/sha256sum", path});
  return r.out.substr(0, 64);
}

class BlkTest : public ::testing::TestWithParam<const char*> {
 protected:
  json config(const std::string& run, const std::string& image, bool read_only, const std::string& extra_args = "",
              const char* cache = "Writeback") const {
    return {{"boot-source",
             {{"kernel_image_path", testguest_elf()},
              {"boot_args", "console=ttyS0 testguest.run=" + run + (extra_args.empty() ? "" : " " + extra_args)}}},
            {"machine-config", {{"vcpu_count", 1}, {"mem_size_mib", 128}}},
            {"drives",
             {{{"drive_id", "testdisk"}, {"path_on_host", image}, {"is_root_device", false},
               {"is_read_only", read_only}, {"cache_type", cache}, {"io_engine", GetParam()}}}}};
  }
  ProcessResult boot(const json& cfg, ProcessOptions opts = {}) {
    opts.timeout = std::chrono::milliseconds(120000);
    ProcessResult r = run_hearth_config(cfg, {}, opts);
    return r;
  }
  TempDir dir_;
};

TEST_P(BlkTest, ReadWholeDriveMatchesHostDigest) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", random_bytes(kImageBytes, 1));
  ProcessResult r = boot(config("blk-read", image, true));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK READ sectors="),
            std::vector<std::string>{fmt::format("BLK READ sectors={} sha256={}", kImageBytes / 512, sha256_of(image))});
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST_P(BlkTest, WrittenDataIsOnTheHostFileAfterExit) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", std::string(kImageBytes, '\0'));
  ProcessResult r = boot(config("blk-write", image, false));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, fmt::format("BLK WRITE sectors={} ok", kImageBytes / 512)).size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  const std::string data = read_file(image);
  ASSERT_EQ(data.size(), kImageBytes);
  for (size_t s = 0; s < kImageBytes / 512; ++s) {
    for (size_t j = 0; j < 512; j += 97) {
      ASSERT_EQ(static_cast<uint8_t>(data[s * 512 + j]), (s * 7 + j) & 0xff) << "sector " << s << " byte " << j;
    }
  }
}

TEST_P(BlkTest, FlushedWritesSurviveKill9OfTheVmm) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", std::string(kImageBytes, '\0'));
  ProcessOptions opts;
  opts.signal_after_ms = 0;
  opts.signal_to_send = SIGKILL;
  opts.wait_for_output = "BLK WRITE sectors=";  // printed after the guest's FLUSH completed
  ProcessResult r = boot(config("blk-write", image, false, "testguest.hold_ms=30000"), opts);
  SCOPED_TRACE(r.out + r.err);
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.signal, SIGKILL);
  const std::string data = read_file(image);
  ASSERT_EQ(data.size(), kImageBytes);
  EXPECT_EQ(static_cast<uint8_t>(data[(kImageBytes / 512 - 1) * 512 + 5]), ((kImageBytes / 512 - 1) * 7 + 5) & 0xff);
  EXPECT_EQ(static_cast<uint8_t>(data[3 * 512 + 100]), (3 * 7 + 100) & 0xff);
}

TEST_P(BlkTest, ReadOnlyDriveRejectsWritesAndStaysUnchanged) {
  HEARTH_REQUIRE_KVM();
  const std::string original = random_bytes(kImageBytes, 2);
  const std::string image = dir_.write("disk.img", original);
  ProcessResult r = boot(config("blk-ro", image, true));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK RO ok").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_TRUE(read_file(image) == original) << "read-only image changed";
}

TEST_P(BlkTest, GetIdReturnsTheDriveId) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", std::string(kImageBytes, '\0'));
  ProcessResult r = boot(config("blk-id", image, true));
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(lines_with_prefix(r.out, "BLK ID "), std::vector<std::string>{"BLK ID testdisk"});
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

TEST_P(BlkTest, HostileDriverGetsErrorsAndTheVmmSurvives) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", random_bytes(kImageBytes, 3));
  for (const char* hostile : {"loop", "oob", "zero-len", "huge-len", "direction", "qsize"}) {
    SCOPED_TRACE(hostile);
    ProcessResult r = boot(config(std::string("blk-hostile-") + hostile, image, false));
    SCOPED_TRACE(r.out + r.err);
    EXPECT_FALSE(r.signaled);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_FALSE(lines_with_prefix(r.out, "BLK HOSTILE ").empty());
    EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  }
}

TEST_P(BlkTest, RateLimiterThrottlesAndTheGuestStillCompletes) {
  HEARTH_REQUIRE_KVM();
  const std::string image = dir_.write("disk.img", std::string(kImageBytes, '\0'));
  const std::string metrics = (dir_.path() / "metrics.json").string();
  json cfg = config("blk-write", image, false);
  // One request per 500 ms: the write, flush and read-back cannot all pass at once.
  cfg["drives"][0]["rate_limiter"] = {{"ops", {{"size", 1}, {"refill_time", 500}}}};
  cfg["metrics"] = {{"metrics_path", metrics}};
  ProcessResult r = boot(cfg);
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_GT(sum_metric(metrics, "testdisk.throttled"), 0u) << read_file(metrics);
  EXPECT_GE(sum_metric(metrics, "testdisk.requests"), 3u) << read_file(metrics);
}

INSTANTIATE_TEST_SUITE_P(IoEngines, BlkTest, ::testing::Values("Sync", "Async"),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace
}  // namespace hearth::test
