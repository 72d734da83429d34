// virtio-vsock on Hearth end to end, against the test guest's vsock-echo: host-initiated streams (1 B to
// 1 MiB) through uds_path, guest-initiated ones to <uds_path>_P, 64 concurrent connections, a host peer
// that stops reading, a port nobody listens on, the path in use (400), and the transport reset after a
// snapshot restore.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
constexpr int kWaitMs = 120000;  // guest code is emulated: generous, never a verdict on speed

int unix_socket() { return ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }
sockaddr_un addr_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  return a;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Reads one '\n'-terminated line (the "OK <port>" answer); empty on EOF.
std::string read_line(int fd) {
  std::string line;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n') break;
  }
  return line;
}

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 13 + seed + (i >> 9)) & 0xff);
  return s;
}

// Host side of one host-initiated stream: CONNECT, "OK", send `data` then SHUT_WR, read to EOF.
// `read_delay` holds the reader back (a host peer that stops reading for a while).
struct StreamResult {
  std::string ok_line;
  std::string echoed;
  size_t written_before_reading = 0;
};
StreamResult host_stream(const std::string& uds, uint32_t port, const std::string& data,
                         std::chrono::milliseconds read_delay = 0ms) {
  StreamResult r;
  Fd s(unix_socket());
  const sockaddr_un a = addr_of(uds);
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return r;
  const std::string connect = fmt::format("CONNECT {}\n", port);
  if (::send(s.fd, connect.data(), connect.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(connect.size())) return r;
  r.ok_line = read_line(s.fd);
  if (r.ok_line.rfind("OK ", 0) != 0) return r;
  std::atomic<size_t> written{0};
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      // 64 KiB at a time, so `written` shows how far the writer got before flow control held it.
      const ssize_t n = ::send(s.fd, data.data() + off, std::min<size_t>(data.size() - off, 65536), MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
      written = off;
    }
    ::shutdown(s.fd, SHUT_WR);
  });
  std::this_thread::sleep_for(read_delay);
  r.written_before_reading = written;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    r.echoed.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  return r;
}

// A Unix-socket echo server at `path` (the host side of guest-initiated connections).
class EchoServer {
 public:
  explicit EchoServer(const std::string& path) : fd_(unix_socket()) {
    const sockaddr_un a = addr_of(path);
    ok_ = ::bind(fd_.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_.fd, 128) == 0;
    thread_ = std::thread([this] {
      while (!stop_) {
        const int c = ::accept(fd_.fd, nullptr, nullptr);
        if (c < 0) break;
        ++accepted_;
        workers_.emplace_back([c] {
          char buf[65536];
          for (;;) {
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0 || ::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
          }
          ::close(c);
        });
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    ::shutdown(fd_.fd, SHUT_RDWR);
    thread_.join();
    for (auto& w : workers_) w.join();
  }
  bool ok() const { return ok_; }
  int accepted() const { return accepted_; }

 private:
  Fd fd_;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> workers_;
};

class VsockTest : public ::testing::Test {
 protected:
  std::string uds() const { return (dir_.path() / "v.sock").string(); }
  // Starts the guest's vsock-echo with `args` behind a config-file vsock device.
  std::unique_ptr<BackgroundProcess> boot(const std::string& args) {
    auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=vsock-echo " + args);
    config["vsock"] = {{"guest_cid", 3}, {"uds_path", uds()}};
    const std::string path = dir_.write("vm.json", config.dump());
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(240000);
    return std::make_unique<BackgroundProcess>(std::vector<std::string>{hearth_binary(), "--config-file", path, "--no-api"},
                                               opts);
  }
  static void expect_pass(BackgroundProcess& p, const std::string& verdict) {
    ProcessResult r = p.wait();
    SCOPED_TRACE(r.out + r.err);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
    EXPECT_EQ(lines_with_prefix(r.out, verdict).size(), 1u);
  }
  TempDir dir_;
};

TEST_F(VsockTest, HostInitiatedStreamsOf1ByteTo1MiBEchoAndAnUnusedPortIsClosed) {
  HEARTH_REQUIRE_KVM();
  auto vm = boot("testguest.vsock_port=52 testguest.vsock_serve=3");
  ASSERT_TRUE(vm->wait_for_output("vsock-echo: listening port=52", kWaitMs)) << vm->output();
  // Nobody listens on 99: the guest answers RST, hearth closes our socket without an "OK".
  {
    const StreamResult r = host_stream(uds(), 99, "x");
    EXPECT_EQ(r.ok_line, "");
  }
  for (size_t size : {size_t{1}, size_t{64 * 1024}, size_t{1024 * 1024}}) {
    const std::string data = pattern(size, static_cast<int>(size));
    const auto t0 = std::chrono::steady_clock::now();
    const StreamResult r = host_stream(uds(), 52, data);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.ok_line.rfind("OK 1073741", 0), 0u) << r.ok_line;
    EXPECT_EQ(r.echoed.size(), size);
    EXPECT_TRUE(r.echoed == data) << "stream of " << size << " bytes came back different";
    std::printf("vsock host->guest->host echo: %zu bytes in %.2f s\n", size, s);
  }
  expect_pass(*vm, "vsock-echo: ok served=3 connected=0");
}

TEST_F(VsockTest, SixtyFourConcurrentHostConnections) {
  HEARTH_REQUIRE_KVM();
  auto vm = boot("testguest.vsock_port=52 testguest.vsock_serve=64");
  ASSERT_TRUE(vm->wait_for_output("vsock-echo: listening port=52", kWaitMs)) << vm->output();
  std::vector<std::thread> threads;
  std::vector<int> ok(64, 0);
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      const std::string data = pattern(3000 + i, i);
      const StreamResult r = host_stream(uds(), 52, data);
      ok[i] = r.echoed == data;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(ok[i]) << "connection " << i;
  expect_pass(*vm, "vsock-echo: ok served=64 connected=0");
}

TEST_F(VsockTest, GuestConnectsOutOver64ConnectionsToUdsPathPort) {
  HEARTH_REQUIRE_KVM();
  EchoServer server(uds() + "_5000");
  ASSERT_TRUE(server.ok());
  auto vm = boot("testguest.vsock_connect=5000 testguest.vsock_conns=64 testguest.vsock_bytes=2048");
  expect_pass(*vm, "vsock-echo: ok served=0 connected=64 echoed=0 verified=131072");
  EXPECT_EQ(server.accepted(), 64);
}

TEST_F(VsockTest, GuestConnectsOutWithOneByteAnd1MiB) {
  HEARTH_REQUIRE_KVM();
  EchoServer server(uds() + "_5001");
  ASSERT_TRUE(server.ok());
  {
    auto vm = boot("testguest.vsock_connect=5001 testguest.vsock_bytes=1");
    expect_pass(*vm, "vsock-echo: ok served=0 connected=1 echoed=0 verified=1 ");
  }
  auto vm = boot("testguest.vsock_connect=5001 testguest.vsock_bytes=1048576");
  expect_pass(*vm, "vsock-echo: ok served=0 connected=1 echoed=0 verified=1048576 ");
}

TEST_F(VsockTest, GuestConnectToAPortWithoutListenerIsReset) {
  HEARTH_REQUIRE_KVM();
  auto vm = boot("testguest.vsock_connect=6000");
  ProcessResult r = vm->wait();
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST FAIL vsock-echo: connection 0 to port 6000 reset").size(), 1u) << r.out;
}

TEST_F(VsockTest, HostPeerThatStopsReadingIsHeldByFlowControlAndLosesNothing) {
  HEARTH_REQUIRE_KVM();
  auto vm = boot("testguest.vsock_port=52 testguest.vsock_serve=1");
  ASSERT_TRUE(vm->wait_for_output("vsock-echo: listening port=52", kWaitMs)) << vm->output();
  const size_t rss_before = rss_kib(vm->pid());
  const std::string data = pattern(2 * 1024 * 1024, 5);
  // 3 s without reading: the echo fills our receive buffer, hearth's bounded tx buffer and the guest's
  // 4 KiB, then credit stops everything, so our writer blocks well before 2 MiB.
  std::atomic<size_t> peak_rss{0};
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      peak_rss = std::max(peak_rss.load(), rss_kib(vm->pid()));
      std::this_thread::sleep_for(50ms);
    }
  });
  const StreamResult r = host_stream(uds(), 52, data, 3000ms);
  done = true;
  sampler.join();
  EXPECT_GT(r.written_before_reading, 0u);
  EXPECT_LT(r.written_before_reading, data.size());
  EXPECT_EQ(r.echoed.size(), data.size());
  EXPECT_TRUE(r.echoed == data);
  // Hearth held a bounded amount: its RSS grew by far less than the 2 MiB that went through. ASan keeps
  // freed buffers in quarantine, so a sanitizer build only gets the general bound.
#ifdef HEARTH_TEST_SANITIZED
  const size_t growth_kib = kHearthRssBoundKib;
#else
  const size_t growth_kib = 4 * 1024;
#endif
  EXPECT_LT(peak_rss.load(), rss_before + growth_kib) << "before " << rss_before << " KiB, peak " << peak_rss << " KiB";
  std::printf("vsock stalled peer: %zu of %zu bytes written before reading; hearth RSS %zu -> peak %zu KiB\n",
              r.written_before_reading, data.size(), rss_before, peak_rss.load());
  expect_pass(*vm, "vsock-echo: ok served=1");
}

TEST_F(VsockTest, UdsPathInUseIsA400NamingTheField) {
  const std::string sock = (dir_.path() / "api.sock").string();
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(60000);
  BackgroundProcess hearth({hearth_binary(), "--api-sock", sock}, opts);
  ASSERT_TRUE(wait_for_socket(sock, 10000));
  ApiClient api(sock);
  // A live listener at the path.
  EchoServer busy(uds());
  ASSERT_TRUE(busy.ok());
  HttpReply r = api.put("/vsock", json{{"guest_cid", 3}, {"uds_path", uds()}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("vsock.uds_path"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("in use"), std::string::npos) << r.body;
  // A regular file.
  const std::string file = dir_.write("plain", "x");
  r = api.put("/vsock", json{{"guest_cid", 3}, {"uds_path", file}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("vsock.uds_path"), std::string::npos) << r.body;
  r = api.put("/vsock", R"({"guest_cid": 2, "uds_path": "/tmp/x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("vsock.guest_cid"), std::string::npos) << r.body;
  EXPECT_FALSE(json::parse(api.get("/vm/config").body).contains("vsock"));  // nothing half-applied
  const std::string free_path = (dir_.path() / "free.sock").string();
  r = api.put("/vsock", json{{"guest_cid", 7}, {"uds_path", free_path}, {"vsock_id", "vsock0"}}.dump());
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(json::parse(api.get("/vm/config").body)["vsock"], (json{{"guest_cid", 7}, {"uds_path", free_path}}));
  hearth.terminate();
}

TEST_F(VsockTest, RestoredGuestSeesTransportResetAndServesAgain) {
  HEARTH_REQUIRE_KVM();
  const std::string api1 = (dir_.path() / "a1.sock").string(), api2 = (dir_.path() / "a2.sock").string();
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=vsock-echo testguest.vsock_port=52 "
                                        "testguest.vsock_serve=2 testguest.vsock_reset=1");
  config["vsock"] = {{"guest_cid", 3}, {"uds_path", uds()}};
  const std::string cfg = dir_.write("vm.json", config.dump());
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(240000);
  auto source = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{hearth_binary(), "--api-sock", api1, "--config-file", cfg}, opts);
  ASSERT_TRUE(source->wait_for_output("vsock-echo: listening port=52", kWaitMs)) << source->output();
  // One stream before the snapshot, so the device is in use.
  EXPECT_EQ(host_stream(uds(), 52, "before").echoed, "before");
  ApiClient a1(api1);
  ASSERT_EQ(a1.patch("/vm", R"({"state":"Paused"})").status, 204);
  const std::string state = (dir_.path() / "vm.state").string(), mem = (dir_.path() / "vm.mem").string();
  HttpReply r = a1.put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  ::kill(source->pid(), SIGKILL);  // its socket file stays behind, stale
  source->wait();
  BackgroundProcess restored({hearth_binary(), "--api-sock", api2}, opts);
  ASSERT_TRUE(wait_for_socket(api2, 10000));
  ApiClient a2(api2);
  r = a2.put("/snapshot/load", json{{"snapshot_path", state},
                                    {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}},
                                    {"resume_vm", true}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(restored.wait_for_output("vsock-echo: transport reset", kWaitMs)) << restored.output();
  EXPECT_EQ(host_stream(uds(), 52, "after").echoed, "after");
  expect_pass(restored, "vsock-echo: ok served=2 connected=0 echoed=11 verified=0 resets=1");
}

}  // namespace
}  // namespace hearth::test
