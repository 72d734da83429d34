#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "vmm/base/error.h"
#include "vmm/metrics/registry.h"
#include "vmm/metrics/sink.h"

namespace hearth::metrics {
namespace {

namespace fs = std::filesystem;

TEST(Metrics, CountersAreSharedByName) {
  Registry r;
  r.counter("vcpu.exit.io").add(2);
  r.counter("vcpu.exit.io").add();
  r.counter("api.put_drives.count").add();
  auto s = r.snapshot();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "api.put_drives.count");
  EXPECT_EQ(s[1].value, 3u);
  for (const char* bad : {"", ".a", "a.", "a..b", "a-b", "a b"}) {
    EXPECT_THROW(r.counter(bad), Error) << bad;
  }
}

TEST(Metrics, Prometheus) {
  Registry r;
  r.counter("block.rootfs.read_bytes").add(512);
  EXPECT_EQ(r.render_prometheus(),
            "# TYPE hearth_block_rootfs_read_bytes counter\nhearth_block_rootfs_read_bytes 512\n");
}

TEST(Metrics, TextValuesAreInfoGaugesAndJsonStrings) {
  Registry r;
  r.counter("snapshot.create_full").add();
  r.set_text("snapshot.last_snapshot_path", "/srv/a \"b\"\\c\nd");
  EXPECT_EQ(r.text("snapshot.last_snapshot_path"), "/srv/a \"b\"\\c\nd");
  EXPECT_EQ(r.render_prometheus(),
            "# TYPE hearth_snapshot_create_full counter\nhearth_snapshot_create_full 1\n"
            "# TYPE hearth_snapshot_last_snapshot_path_info gauge\n"
            "hearth_snapshot_last_snapshot_path_info{value=\"/srv/a \\\"b\\\"\\\\c\\nd\"} 1\n");
  const nlohmann::json j = r.take_deltas_json();
  EXPECT_EQ(j["snapshot"]["last_snapshot_path"], "/srv/a \"b\"\\c\nd");
  EXPECT_EQ(j["snapshot"]["create_full"], 1);
  EXPECT_THROW(r.set_text("bad name", "x"), Error);
}

TEST(Metrics, JsonDeltas) {
  Registry r;
  r.counter("vcpu.exit.io").add(5);
  r.counter("vcpu.exit.mmio").add(1);
  r.counter("vcpu").add(7);  // both a leaf and a group
  nlohmann::json j = r.take_deltas_json();
  EXPECT_EQ(j["vcpu"]["exit"]["io"], 5);
  EXPECT_EQ(j["vcpu"]["exit"]["mmio"], 1);
  EXPECT_EQ(j["vcpu"]["value"], 7);
  EXPECT_TRUE(j["utc_timestamp_ms"].is_number_integer());
  r.counter("vcpu.exit.io").add(2);
  j = r.take_deltas_json();
  EXPECT_EQ(j["vcpu"]["exit"]["io"], 2);
  EXPECT_EQ(j["vcpu"]["exit"]["mmio"], 0);
  EXPECT_EQ(r.counter("vcpu.exit.io").get(), 7u);  // cumulative value untouched
}

TEST(Metrics, FileSink) {
  std::string path = fs::temp_directory_path() / ("hearth-metrics-" + std::to_string(::getpid()));
  fs::remove(path);
  {
    Registry r;
    r.counter("a.b").add(3);
    LineSink sink(path, "metrics.metrics_path");
    EXPECT_TRUE(flush_json_line(r, sink));
    EXPECT_TRUE(flush_json_line(r, sink));
  }
  std::ifstream in(path);
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_EQ(nlohmann::json::parse(l1)["a"]["b"], 3);
  EXPECT_EQ(nlohmann::json::parse(l2)["a"]["b"], 0);
  fs::remove(path);
  {
    Registry r;
    r.counter("a.b").add(2);
    LineSink sink(path, "metrics.metrics_path");
    EXPECT_TRUE(flush_json_line(r, sink, {{"id", "vm-7"}, {"properties", {{"zone", "eu-1"}}}}));
  }
  std::ifstream again(path);
  std::string line;
  std::getline(again, line);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["a"]["b"], 2);
  EXPECT_EQ(j["id"], "vm-7");
  EXPECT_EQ(j["properties"]["zone"], "eu-1");
  fs::remove(path);
  EXPECT_THROW(LineSink("/nonexistent-dir/m", "metrics.metrics_path"), Error);
  EXPECT_THROW(LineSink("/dev/null/x", "metrics.metrics_path"), Error);
}

TEST(Metrics, FifoNeverBlocksAndCountsLostLines) {
  std::string path = fs::temp_directory_path() / ("hearth-fifo-" + std::to_string(::getpid()));
  fs::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  Registry r;
  r.counter("x").add();
  LineSink sink(path, "metrics.metrics_path");  // no reader yet: the line waits in the pipe
  ASSERT_TRUE(flush_json_line(r, sink));
  int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  char first[64] = {};
  ASSERT_GT(::read(reader, first, sizeof(first) - 1), 0);
  EXPECT_NE(std::string(first).find("\"x\":1"), std::string::npos) << first;
  // Nobody reads: the pipe fills, and writes start failing instead of blocking.
  int lost_before = 0;
  for (int i = 0; i < 100000 && sink.lost() == 0; ++i) {
    flush_json_line(r, sink);
    lost_before = i;
  }
  EXPECT_GT(lost_before, 0);
  EXPECT_EQ(sink.lost(), 1u);
  EXPECT_EQ(r.counter("metrics.lost_lines").get(), 1u);
  ::close(reader);
  fs::remove(path);
}

}  // namespace
}  // namespace hearth::metrics
