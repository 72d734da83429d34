#include "vmm/main/log_sinks.h"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "vmm/metrics/registry.h"

namespace hearth {
namespace {

size_t count_lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST(RateLimitedSink, DropsBeyondTheBurstAndCountsThem) {
  std::ostringstream out;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto limited = std::make_shared<RateLimitedSink>(inner, 3, 0);  // no refill
  spdlog::logger logger("test", limited);
  auto& missed = metrics::global().counter("logger.missed_log_count");
  const uint64_t before = missed.get();
  for (int i = 0; i < 10; ++i) logger.warn("message {}", i);
  EXPECT_EQ(count_lines(out.str()), 3u);
  EXPECT_NE(out.str().find("message 2"), std::string::npos);
  EXPECT_EQ(out.str().find("message 3"), std::string::npos);
  EXPECT_EQ(missed.get() - before, 7u);
}

TEST(RateLimitedSink, ReportsDropsWhenMessagesFlowAgain) {
  std::ostringstream out;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto limited = std::make_shared<RateLimitedSink>(inner, 1, 1000);  // refills within a couple of ms
  spdlog::logger logger("test", limited);
  logger.warn("first");
  logger.warn("dropped");
  ::usleep(5000);
  logger.warn("later");
  EXPECT_NE(out.str().find("1 log messages were dropped"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("later"), std::string::npos);
}

TEST(RateLimitedSink, ModuleFilterMatchesSourceFolders) {
  EXPECT_TRUE(RateLimitedSink::in_module("/src/hearth/virtio/blk/device.cpp", "virtio"));
  EXPECT_TRUE(RateLimitedSink::in_module("virtio/blk/device.cpp", "virtio/blk"));
  EXPECT_TRUE(RateLimitedSink::in_module("/src/hearth/vmm/core/vmm.cpp", "vmm/core"));
  EXPECT_FALSE(RateLimitedSink::in_module("/src/hearth/vmm/core/vmm.cpp", "virtio"));
  EXPECT_FALSE(RateLimitedSink::in_module("/src/hearth/virtio_extra/x.cpp", "virtio"));
  EXPECT_TRUE(RateLimitedSink::in_module("/anything.cpp", ""));

  std::ostringstream out;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", std::make_shared<RateLimitedSink>(inner, 100, 100, "virtio"));
  logger.log(spdlog::source_loc{"/x/virtio/blk/device.cpp", 1, "f"}, spdlog::level::warn, "from virtio");
  logger.log(spdlog::source_loc{"/x/vmm/core/vmm.cpp", 1, "f"}, spdlog::level::warn, "from vmm");
  EXPECT_NE(out.str().find("from virtio"), std::string::npos);
  EXPECT_EQ(out.str().find("from vmm"), std::string::npos);
}

TEST(LineLogSink, AppendsToAFile) {
  const auto path = std::filesystem::temp_directory_path() / ("hearth-log-" + std::to_string(::getpid()));
  {
    spdlog::logger logger("test", std::make_shared<LineLogSink>(path.string()));
    logger.set_pattern("%v");
    logger.warn("one");
    logger.warn("two");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "one\ntwo\n");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace hearth
