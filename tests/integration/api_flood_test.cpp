// Hostile API clients against the real hearth binary: while each flood runs, a well-behaved
// client still gets GET /machine-config answered promptly, the process stays small and idle,
// and SIGTERM still ends it at once. No microVM is started, so these need no KVM.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "vmm/base/fd.h"

namespace hearth::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kRssLimitKib = kHearthRssBoundKib;
constexpr double kLatencyP90Ms = 100;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

UniqueFd connect_unix(const std::string& path, int timeout_ms = 2000) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds a wait in the backlog
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

// Reads one response; 0: closed or timed out.
int read_status(int fd) {
  std::string data;
  char buf[4096];
  while (true) {
    size_t end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t length = 0;
      if (size_t p = data.find("Content-Length: "); p != std::string::npos && p < end) {
        length = std::stoul(data.substr(p + 16));
      }
      if (data.size() >= end + 4 + length) return std::stoi(data.substr(9, 3));
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return 0;
    data.append(buf, size_t(n));
  }
}

// A fresh client each time: connect, GET /machine-config, read the answer.
struct Probes {
  std::vector<double> ms;  // answered ones
  int failed = 0;
  double percentile(double p) const {
    if (ms.empty()) return 1e9;
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    return s[size_t(std::ceil(p * double(s.size()))) - 1];
  }
  std::string summary() const {
    char line[160];
    std::snprintf(line, sizeof(line), "%zu answered, %d failed, p50 %.1f ms, p90 %.1f ms, max %.1f ms", ms.size(),
                  failed, percentile(0.5), percentile(0.9), percentile(1.0));
    return line;
  }
};

Probes probe(const std::string& sock, int count = 20, int gap_ms = 25) {
  Probes p;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    UniqueFd fd = connect_unix(sock, 5000);
    const std::string req = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (fd && ::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size()) &&
        read_status(fd.get()) == 200) {
      p.ms.push_back(ms_since(start));
    } else {
      ++p.failed;
    }
    std::this_thread::sleep_for(milliseconds(gap_ms));
  }
  return p;
}

double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // fields 14 and 15 are utime and stime
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

// Sends what the peer takes without blocking, cycling through `data`; returns the bytes sent.
size_t push(int fd, const std::string& data, size_t& offset) {
  size_t sent = 0;
  while (true) {
    ssize_t n = ::send(fd, data.data() + offset, data.size() - offset, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return sent;
    sent += size_t(n);
    offset = (offset + size_t(n)) % data.size();
  }
}

// True when the server has closed `fd` (unread bytes are discarded).
bool closed_by_server(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) continue;
    return n == 0 || errno == ECONNRESET;
  }
}

class ApiFlood : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    sock_ = (dir_.path() / "api.sock").string();
    std::vector<std::string> argv = {hearth_binary(), "--api-sock", sock_, "--id", "flood"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions opts;
    opts.timeout = milliseconds(120000);
    opts.pid_out = pid_;
    result_ = std::async(std::launch::async, [argv, opts] { return run_process(argv, opts); });
    ASSERT_TRUE(wait_for_socket(sock_, 10000)) << "API socket never accepted";
    ASSERT_NE(pid_->load(), 0);
    rss_before_ = rss_kib(pid_->load());
  }

  void TearDown() override {
    if (result_.valid()) {
      ::kill(pid_->load(), SIGKILL);
      result_.wait();
    }
  }

  // Probes while the flood is on, and checks latency and memory.
  void check_service(const char* flood) {
    Probes p = probe(sock_);
    const size_t rss = rss_kib(pid_->load());
    std::printf("[ flood %s ] %s; VmRSS %zu KiB (at start %zu KiB)\n", flood, p.summary().c_str(), rss, rss_before_);
    EXPECT_EQ(p.failed, 0) << p.summary();
    EXPECT_LE(p.percentile(0.9), kLatencyP90Ms) << p.summary();
    EXPECT_LT(rss, kRssLimitKib);
  }

  // The API thread must sleep while nothing can progress.
  // Once the sockets are full hearth must go idle. It may first finish answering what it read before they
  // filled (a sanitizer build does that ~10x slower: 0.57 s of CPU in the first second was measured there);
  // a busy loop never settles, so up to 10 one-second windows are watched for one under the bound.
  void check_idle_cpu(const char* flood) {
    double used = 0;
    for (int window = 1; window <= 10; ++window) {
      const double before = cpu_seconds(pid_->load());
      std::this_thread::sleep_for(milliseconds(1000));
      used = cpu_seconds(pid_->load()) - before;
      std::printf("[ flood %s ] hearth CPU over second %d: %.2f s\n", flood, window, used);
      if (used < 0.3) return;
    }
    ADD_FAILURE() << "hearth never went idle under the " << flood << " flood: " << used << " s of CPU in the last second";
  }

  // SIGTERM with the flood's connections still open: exit status 0 within 1 s.
  void check_sigterm() {
    const auto start = Clock::now();
    ASSERT_EQ(::kill(pid_->load(), SIGTERM), 0);
    ASSERT_EQ(result_.wait_for(milliseconds(1000)), std::future_status::ready) << "still running 1 s after SIGTERM";
    const double took = ms_since(start);
    ProcessResult r = result_.get();
    std::printf("[ flood ] SIGTERM to exit: %.0f ms\n", took);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  TempDir dir_;
  std::string sock_;
  std::shared_ptr<std::atomic<int>> pid_ = std::make_shared<std::atomic<int>>(0);
  std::future<ProcessResult> result_;
  size_t rss_before_ = 0;
};

TEST_F(ApiFlood, ThreeHundredIdleConnectionsDoNotLockOutANewClient) {
  start();
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 300; ++i) {
    UniqueFd fd = connect_unix(sock_);
    if (fd) idle.push_back(std::move(fd));
  }
  EXPECT_EQ(idle.size(), 300u) << "connect failed: the backlog filled up";
  std::this_thread::sleep_for(milliseconds(200));
  check_idle_cpu("idle");
  check_service("idle");
  // The newest idle connections were kept: the oldest made room.
  std::this_thread::sleep_for(milliseconds(100));
  size_t kept = 0;
  for (size_t i = idle.size() - 100; i < idle.size(); ++i) kept += !closed_by_server(idle[i].get());
  EXPECT_EQ(kept, 100u);
  check_sigterm();
}

// 300 clients sending one byte every 100 ms: more than the connection limit, each cut off at
// the request timeout however steadily it trickles.
void slow_flood(const std::string& sock, const std::string& head, const std::string& trickled,
                const char* name, const std::function<void(const char*)>& check) {
  std::vector<UniqueFd> slow;
  std::vector<Clock::time_point> opened;
  for (int i = 0; i < 300; ++i) {
    UniqueFd fd = connect_unix(sock);
    if (!fd) continue;
    if (!head.empty()) ::send(fd.get(), head.data(), head.size(), MSG_NOSIGNAL);
    slow.push_back(std::move(fd));
    opened.push_back(Clock::now());
  }
  EXPECT_EQ(slow.size(), 300u);
  std::atomic<bool> stop{false};
  std::vector<double> alive_ms(slow.size(), -1);  // how long each lasted, once closed
  std::thread trickler([&] {
    for (size_t byte = 0; !stop; ++byte) {
      for (size_t i = 0; i < slow.size(); ++i) {
        if (alive_ms[i] >= 0) continue;
        char c = trickled[byte % trickled.size()];
        if (::send(slow[i].get(), &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1 || closed_by_server(slow[i].get())) {
          alive_ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - opened[i]).count();
        }
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const auto start = Clock::now();
  check(name);
  while (ms_since(start) < 2500) std::this_thread::sleep_for(milliseconds(50));
  stop = true;
  trickler.join();
  size_t closed = 0;
  double longest = 0;
  for (double ms : alive_ms) {
    if (ms >= 0) ++closed;
    longest = std::max(longest, ms);
  }
  std::printf("[ flood %s ] %zu of %zu slow clients closed by the server, the longest after %.0f ms\n", name, closed,
              slow.size(), longest);
  EXPECT_EQ(closed, slow.size()) << "a trickling client outlived the 1 s request timeout";
  EXPECT_LT(longest, 2500);
}

TEST_F(ApiFlood, SlowHeaderClientsAreCutOffAndOthersAreServed) {
  start({"--api-request-timeout-ms", "1000"});
  slow_flood(sock_, "", "GET /machine-config HTTP/1.1\r\nX-Slow: " + std::string(4000, 'a'), "slow-header",
             [&](const char* name) { check_service(name); });
  check_sigterm();
}

TEST_F(ApiFlood, SlowBodyClientsAreCutOffAndOthersAreServed) {
  start({"--api-request-timeout-ms", "1000"});
  slow_flood(sock_, "PUT /machine-config HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", std::string(5000, ' '),
             "slow-body", [&](const char* name) { check_service(name); });
  check_sigterm();
}

TEST_F(ApiFlood, NeverReadingPipelinersStayBoundedAndOthersAreServed) {
  start();
  const std::string burst = [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "GET /machine-config HTTP/1.1\r\n\r\n";
    return s;
  }();
  std::vector<UniqueFd> pipeliners;
  for (int i = 0; i < 4; ++i) pipeliners.push_back(connect_unix(sock_));
  std::atomic<bool> stop{false};
  std::atomic<size_t> pushed{0};
  std::thread pusher([&] {
    std::vector<size_t> offsets(pipeliners.size(), 0);
    while (!stop) {
      for (size_t i = 0; i < pipeliners.size(); ++i) {
        pushed += push(pipeliners[i].get(), burst, offsets[i]);
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
  std::this_thread::sleep_for(milliseconds(500));  // the sockets fill up
  check_idle_cpu("pipeliner");
  check_service("pipeliner");
  stop = true;
  pusher.join();
  std::printf("[ flood pipeliner ] 4 clients that never read sent %zu request bytes\n", pushed.load());
  EXPECT_GT(pushed.load(), 4 * 65536u) << "the flood never filled the sockets";
  check_sigterm();
}

TEST_F(ApiFlood, HalfClosedClientsGetTheirAnswers) {
  start();
  constexpr int kClients = 100;
  std::vector<UniqueFd> readers, leavers;
  const std::string req = "GET /machine-config HTTP/1.1\r\n\r\n";
  std::atomic<int> answered{0};
  std::thread flood([&] {
    for (int i = 0; i < kClients; ++i) {
      UniqueFd fd = connect_unix(sock_);
      if (!fd) continue;
      ::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
      ::shutdown(fd.get(), SHUT_WR);
      (i % 2 ? readers : leavers).push_back(std::move(fd));  // leavers never read
    }
    for (auto& fd : readers) {
      char extra;
      if (read_status(fd.get()) == 200 && ::recv(fd.get(), &extra, 1, 0) == 0) ++answered;  // then EOF
    }
  });
  check_service("half-closed");
  flood.join();
  EXPECT_EQ(answered.load(), kClients / 2);
  check_sigterm();
}

}  // namespace
}  // namespace hearth::test
