// Live migration end to end with the test guest's `counter`, dirtying pages every tick and verifying each
// against its own bookkeeping, reading a virtio-blk drive that the VMM fills (DMA), over Unix sockets and
// TCP on 127.0.0.1. The count must go on on the destination, every page verify, the drive keep working and
// the source exit 0. Fault tests put a proxy in the stream: whatever breaks before the hand-over, the VM
// goes on on the source, verifying its memory; after a post-copy hand-over it cannot, and says so.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "tests/integration/migration_proxy.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using migration::MsgType;
namespace fs = std::filesystem;

constexpr int kSectors = 64;
constexpr int kWaitMs = 120000;  // guest code is emulated here: generous, never a verdict on speed
constexpr uint32_t kMemMib = 128;
const std::string kTick = "counter: tick=";

std::string drive_pattern() {
  std::string bytes(kSectors * 512, '\0');
  for (int s = 0; s < kSectors; ++s) {
    for (int j = 0; j < 512; ++j) bytes[s * 512 + j] = static_cast<char>((s * 7 + j) & 0xff);
  }
  return bytes;
}

// Complete tick lines only: the guest may be half way through printing the last one.
std::vector<std::string> tick_lines(const std::string& out) {
  return lines_with_prefix(out.substr(0, out.rfind('\n') + 1), kTick);
}
uint64_t tick_of(const std::string& line) { return std::stoull(line.substr(kTick.size())); }
uint64_t last_tick(const std::string& out) {
  const auto lines = tick_lines(out);
  return lines.empty() ? 0 : tick_of(lines.back());
}

struct Hearth {
  Hearth(const fs::path& dir, const std::string& name, std::vector<std::string> extra = {}) {
    socket = (dir / (name + ".sock")).string();
    std::vector<std::string> argv{hearth_binary(), "--api-sock", socket, "--level", "Info"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(300000);
    process = std::make_unique<BackgroundProcess>(argv, opts);
    started = wait_for_socket(socket, 20000);
    api = std::make_unique<ApiClient>(socket, 240);
    poll = std::make_unique<ApiClient>(socket);
  }
  ~Hearth() { ::kill(process->pid(), SIGKILL); }
  Hearth(const Hearth&) = delete;
  Hearth& operator=(const Hearth&) = delete;
  json migration() { return json::parse(poll->get("/migration").body, nullptr, false); }
  std::string socket;
  bool started = false;
  std::unique_ptr<BackgroundProcess> process;
  std::unique_ptr<ApiClient> api;   // for the long PUT /migration/send
  std::unique_ptr<ApiClient> poll;  // GET /migration meanwhile
};

// Waits for `text` on stdout, giving up early once the guest reports a failure.
bool wait_for(BackgroundProcess& p, const std::string& text, int timeout_ms = kWaitMs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = p.output();
    if (out.find(text) != std::string::npos) return true;
    if (out.find("TESTGUEST FAIL") != std::string::npos) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override { disk_ = dir_.write("disk.img", drive_pattern()); }

  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  // Boots `counter` (dirtying `dirty_pages` pages a tick) with the drive and waits for a few ticks.
  std::unique_ptr<Hearth> boot_source(int dirty_pages) {
    std::string args = "console=ttyS0 testguest.run=counter testguest.tick_ms=5";
    if (dirty_pages) args += fmt::format(" testguest.dirty_pages={}", dirty_pages);
    json config = testguest_config(1, kMemMib, args);
    config["drives"] = json::array({{{"drive_id", "data"},
                                     {"path_on_host", disk_},
                                     {"is_root_device", false},
                                     {"is_read_only", false}}});
    const std::string file = dir_.write("source.json", config.dump());
    auto vm = std::make_unique<Hearth>(dir_.path(), "source", std::vector<std::string>{"--config-file", file});
    EXPECT_TRUE(vm->started);
    EXPECT_TRUE(wait_for(*vm->process, kTick + "3 ")) << vm->process->output();
    return vm;
  }

  std::unique_ptr<Hearth> start_destination(const std::string& url) {
    auto vm = std::make_unique<Hearth>(dir_.path(), fmt::format("dest{}", ++dests_), std::vector<std::string>{"--migrate-from", url});
    EXPECT_TRUE(vm->started);
    return vm;
  }

  static HttpReply send(Hearth& source, const json& body) { return source.api->put("/migration/send", body.dump()); }

  // The destination goes on counting from where the source stopped, every page and sector verified.
  static void expect_continues(Hearth& source_after, Hearth& dest, bool dirty) {
    const std::string before = source_after.process->output();
    const uint64_t last = last_tick(before);
    ASSERT_GE(last, 3u) << before;
    ASSERT_TRUE(wait_for(*dest.process, fmt::format("{}{} ", kTick, last + 5))) << dest.process->output();
    const std::string out = dest.process->output();
    const auto lines = tick_lines(out);
    ASSERT_FALSE(lines.empty());
    // The first line may be the end of one the source began: its tick is last + 1 either way.
    EXPECT_LE(tick_of(lines.front()), last + 2) << out;
    EXPECT_GE(tick_of(lines.front()), last + 1) << out;
    EXPECT_EQ(out.find("TESTGUEST START"), std::string::npos) << out;  // no reboot
    EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
    for (const auto& line : lines) {
      EXPECT_NE(line.find("pattern=ok blk=ok"), std::string::npos) << line;
      if (dirty) {
        EXPECT_NE(line.find("dirty=ok"), std::string::npos) << line;
      }
    }
  }

  // The migration failed and the VM still runs here, its memory verifying tick after tick.
  static void expect_runs_here(Hearth& source, const HttpReply& reply, const std::string& reason_part) {
    EXPECT_EQ(reply.status, 400) << reply.body;
    const json status = source.migration();
    EXPECT_EQ(status.value("state", ""), "failed") << status.dump();
    EXPECT_FALSE(status.value("error", "").empty()) << status.dump();
    EXPECT_NE(status.value("error", "").find(reason_part), std::string::npos) << status.dump();
    const uint64_t now = last_tick(source.process->output());
    EXPECT_TRUE(wait_for(*source.process, fmt::format("{}{} ", kTick, now + 5))) << source.process->output();
    const std::string out = source.process->output();
    EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
    const auto lines = tick_lines(out);
    EXPECT_NE(lines.back().find("dirty=ok"), std::string::npos) << lines.back();
    EXPECT_EQ(json::parse(source.poll->get("/").body, nullptr, false).value("state", ""), "Running");
  }

  TempDir dir_;
  std::string disk_;
  int dests_ = 0;
};

TEST_F(MigrationTest, OverAUnixSocketTheCountGoesOnAndEveryPageVerifies) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(16);
  const std::string url = "unix:" + path("mig.sock");
  auto dest = start_destination(url);
  const HttpReply r = send(*source, {{"url", url}, {"max_downtime_ms", 50}});
  ASSERT_EQ(r.status, 204) << r.body;
  const ProcessResult exited = source->process->wait();
  EXPECT_EQ(exited.exit_code, 0) << exited.err;
  expect_continues(*source, *dest, true);
  const json status = dest->migration();
  EXPECT_EQ(status.value("state", ""), "completed") << status.dump();
  EXPECT_GT(status.value("bytes_sent", 0), 0) << status.dump();
  EXPECT_GT(status.value("downtime_ms", 0.0), 0.0) << status.dump();
  EXPECT_EQ(json::parse(dest->poll->get("/").body).value("state", ""), "Running");
  // The destination took the configuration from the stream.
  const json config = json::parse(dest->poll->get("/vm/config").body);
  EXPECT_EQ(config["drives"][0]["path_on_host"], disk_) << config.dump();
}

TEST_F(MigrationTest, OverTcpWithReceiveFromTheApi) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(16);
  auto dest = std::make_unique<Hearth>(dir_.path(), "dest");
  ASSERT_TRUE(dest->started);
  const std::string url = fmt::format("tcp:127.0.0.1:{}", free_tcp_port());
  const HttpReply receiving = dest->api->put("/migration/receive", json{{"url", url}}.dump());
  ASSERT_EQ(receiving.status, 204) << receiving.body;
  // Configuring a VM that arrives by migration is refused meanwhile.
  EXPECT_EQ(dest->api->put("/machine-config", R"({"vcpu_count":1,"mem_size_mib":64})").status, 400);
  const HttpReply r = send(*source, {{"url", url}});
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(source->process->wait().exit_code, 0);
  expect_continues(*source, *dest, true);
}

TEST_F(MigrationTest, AutoConvergeThrottlesAGuestThatDirtiesFasterThanTheLink) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(64);
  const std::string url = "unix:" + path("mig.sock");
  auto dest = start_destination(url);
  std::atomic<uint32_t> max_throttle{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    ApiClient poll(source->socket);
    while (!done) {
      const json s = json::parse(poll.get("/migration").body, nullptr, false);
      if (s.is_object()) max_throttle = std::max(max_throttle.load(), s.value("throttle_percent", 0u));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // 1 MiB/s drains 256 pages a second; the guest dirties 64 pages a tick, many ticks a second.
  const HttpReply r = send(*source, {{"url", url}, {"bandwidth_mib_s", 1}, {"max_downtime_ms", 10}, {"max_rounds", 100}});
  done = true;
  watcher.join();
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_GT(max_throttle.load(), 0u);
  EXPECT_EQ(source->process->wait().exit_code, 0);
  expect_continues(*source, *dest, true);
}

TEST_F(MigrationTest, PostCopyRunsOnTheDestinationAndFetchesTheRest) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(64);
  const std::string url = "unix:" + path("mig.sock");
  auto dest = start_destination(url);
  const HttpReply r = send(*source, {{"url", url}, {"bandwidth_mib_s", 1}, {"max_downtime_ms", 1}, {"post_copy", true}});
  if (r.status == 400 && r.body.find("userfaultfd") != std::string::npos) GTEST_SKIP() << "no userfaultfd: " << r.body;
  const ProcessResult exited = source->process->wait();
  ASSERT_EQ(r.status, 204) << r.body << exited.err;
  EXPECT_EQ(exited.exit_code, 0) << exited.err;
  EXPECT_NE(exited.err.find("post-copy with"), std::string::npos) << exited.err;
  expect_continues(*source, *dest, true);
  EXPECT_EQ(dest->migration().value("state", ""), "completed");
}

// Faults injected by a proxy between source and destination.
struct FaultCase {
  const char* name;
  ProxyFault fault;
  bool post_copy;
  const char* reason;  // part of the source's error
};

class MigrationFault : public MigrationTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(MigrationFault, TheVmGoesOnOnTheSource) {
  HEARTH_REQUIRE_KVM();
  const FaultCase& c = GetParam();
  auto source = boot_source(16);
  const std::string dest_url = "unix:" + path("dest.sock");
  auto dest = start_destination(dest_url);
  ProxyFault fault = c.fault;
  fault.pid = dest->process->pid();
  MigrationProxy proxy(path("proxy.sock"), path("dest.sock"), fault);
  // max_downtime 1 ms is never met: the rounds go on until max_rounds, then stop-and-copy.
  const HttpReply r = send(*source, {{"url", "unix:" + path("proxy.sock")},
                                     {"bandwidth_mib_s", 4},
                                     {"max_downtime_ms", 1},
                                     {"max_rounds", 4},
                                     {"post_copy", c.post_copy}});
  EXPECT_TRUE(proxy.fired());
  expect_runs_here(*source, r, c.reason);
  const ProcessResult d = dest->process->wait();
  if (fault.action == ProxyFault::Action::kCorrupt) {
    EXPECT_EQ(d.exit_code, 1) << d.err;
    EXPECT_NE(d.err.find("hearth: error: migration:"), std::string::npos) << d.err;
    EXPECT_NE(d.err.find("checksum"), std::string::npos) << d.err;
  } else {
    EXPECT_TRUE(d.signaled);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, MigrationFault,
    ::testing::Values(
        FaultCase{"KillDestinationInRound1", {ProxyFault::Action::kKill, MsgType::kRound, 1, 1u, std::nullopt, 0}, false, ""},
        FaultCase{"KillDestinationAtStopAndCopy", {ProxyFault::Action::kKill, MsgType::kState, 1, std::nullopt, std::nullopt, 0}, false, ""},
        FaultCase{"KillDestinationAtPostCopySwitch", {ProxyFault::Action::kKill, MsgType::kPostcopy, 1, std::nullopt, std::nullopt, 0}, true, ""},
        FaultCase{"CorruptOneByte", {ProxyFault::Action::kCorrupt, MsgType::kPages, 3, std::nullopt, std::nullopt, 0}, false, "checksum"}),
    [](const ::testing::TestParamInfo<FaultCase>& param) { return std::string(param.param.name); });

// After the hand-over in post-copy the destination has run the VM: neither copy is whole without the other.
TEST_F(MigrationTest, KillingTheDestinationDuringPostCopyLosesTheVmAndSaysSo) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(64);
  auto dest = start_destination("unix:" + path("dest.sock"));
  MigrationProxy proxy(path("proxy.sock"), path("dest.sock"),
                       {ProxyFault::Action::kKill, MsgType::kPages, 1, std::nullopt, MsgType::kCommit, dest->process->pid()});
  const HttpReply r = send(*source, {{"url", "unix:" + path("proxy.sock")},
                                     {"bandwidth_mib_s", 1},
                                     {"max_downtime_ms", 1},
                                     {"post_copy", true}});
  EXPECT_TRUE(proxy.fired());
  EXPECT_EQ(r.status, 400) << r.body;
  const json status = source->migration();
  EXPECT_EQ(status.value("state", ""), "failed");
  EXPECT_NE(status.value("error", "").find("cannot continue on either side"), std::string::npos) << status.dump();
  const HttpReply resume = source->api->patch("/vm", R"({"state":"Resumed"})");
  EXPECT_EQ(resume.status, 400);
  EXPECT_NE(resume.body.find("cannot resume"), std::string::npos) << resume.body;
}

TEST_F(MigrationTest, LosingTheSourceDuringPostCopyStopsTheDestinationWithAnError) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(64);
  auto dest = start_destination("unix:" + path("dest.sock"));
  MigrationProxy proxy(path("proxy.sock"), path("dest.sock"),
                       {ProxyFault::Action::kKill, MsgType::kPages, 1, std::nullopt, MsgType::kCommit, source->process->pid()});
  std::thread sender([&] {
    send(*source, {{"url", "unix:" + path("proxy.sock")}, {"bandwidth_mib_s", 1}, {"max_downtime_ms", 1}, {"post_copy", true}});
  });
  const ProcessResult d = dest->process->wait();
  sender.join();
  EXPECT_TRUE(proxy.fired());
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_NE(d.err.find("cannot continue"), std::string::npos) << d.err;
}

// A fake peer that answers with another protocol version.
int fake_peer(const std::string& path, bool listen_side) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (listen_side) {
    ::unlink(path.c_str());
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd, 1);
    return fd;
  }
  for (int i = 0; i < 500 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return fd;
}

void send_preamble(int fd, uint32_t version) {
  char p[16] = {};
  std::memcpy(p, migration::kMagic, 8);
  std::memcpy(p + 8, &version, 4);
  ASSERT_EQ(::send(fd, p, sizeof(p), MSG_NOSIGNAL), 16);
}

TEST_F(MigrationTest, ADestinationOfAnotherVersionIsRefusedAndTheVmGoesOn) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(16);
  const int listener = fake_peer(path("fake.sock"), true);
  std::thread fake([&] {
    const int c = ::accept(listener, nullptr, nullptr);
    char p[16];
    ::recv(c, p, sizeof(p), MSG_WAITALL);
    send_preamble(c, 99);
    char byte;
    ::recv(c, &byte, 1, 0);  // until the source hangs up
    ::close(c);
  });
  const HttpReply r = send(*source, {{"url", "unix:" + path("fake.sock")}});
  fake.join();
  ::close(listener);
  expect_runs_here(*source, r, "version 99");
}

TEST_F(MigrationTest, ASourceOfAnotherVersionIsRefusedByTheDestination) {
  HEARTH_REQUIRE_KVM();
  auto dest = start_destination("unix:" + path("dest.sock"));
  const int fd = fake_peer(path("dest.sock"), false);
  send_preamble(fd, 99);
  const ProcessResult d = dest->process->wait();
  ::close(fd);
  EXPECT_EQ(d.exit_code, 1) << d.err;
  EXPECT_NE(d.err.find("protocol version 99"), std::string::npos) << d.err;
}

TEST_F(MigrationTest, AMissingDriveOnTheDestinationIsRefusedAndTheVmGoesOn) {
  HEARTH_REQUIRE_KVM();
  auto source = boot_source(16);
  auto dest = std::make_unique<Hearth>(dir_.path(), "dest");
  const std::string url = "unix:" + path("mig.sock");
  const json receive = {{"url", url}, {"drive_overrides", {{{"drive_id", "data"}, {"path_on_host", path("absent.img")}}}}};
  ASSERT_EQ(dest->api->put("/migration/receive", receive.dump()).status, 204);
  const HttpReply r = send(*source, {{"url", url}});
  expect_runs_here(*source, r, "absent.img");
  const ProcessResult d = dest->process->wait();
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("absent.img"), std::string::npos) << d.err;
}

TEST_F(MigrationTest, BadRequestsAreRefusedWithTheReason) {
  HEARTH_REQUIRE_KVM();
  auto fresh = std::make_unique<Hearth>(dir_.path(), "fresh");
  HttpReply r = fresh->api->put("/migration/send", R"({"url":"unix:/tmp/x.sock"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("running or paused"), std::string::npos) << r.body;
  r = fresh->api->put("/migration/receive", R"({"url":"udp:1.2.3.4:5"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("must start with unix: or tcp:"), std::string::npos) << r.body;
  r = fresh->api->put("/migration/receive", R"({"url":"tcp:127.0.0.1:0"})");
  EXPECT_EQ(r.status, 400);
  r = fresh->api->put("/migration/send", R"({"url":"unix:/x","max_rounds":0})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("max_rounds"), std::string::npos) << r.body;
  EXPECT_EQ(fresh->api->get("/migration").status, 200);

  auto source = boot_source(0);
  r = source->api->put("/migration/receive", json{{"url", "unix:" + path("x.sock")}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  // Nobody listens: the source says so and runs on.
  r = send(*source, {{"url", "unix:" + path("nobody.sock")}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("cannot connect"), std::string::npos) << r.body;
  EXPECT_EQ(source->migration().value("state", ""), "failed");
}

}  // namespace
}  // namespace hearth::test
