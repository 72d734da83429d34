#include "api/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "api/deferred_response.h"
#include "vmm/base/error.h"

namespace hearth::api {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hearth-api-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw_errno("connect");
  }
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void send_all(const UniqueFd& fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) throw_errno("send");
    data.remove_prefix(size_t(n));
  }
}

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

// Reads one response; `buffer` keeps bytes of the next one. status 0: connection closed.
Reply read_reply(const UniqueFd& fd, std::string& buffer) {
  auto fill = [&] {
    char buf[4096];
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    // A timeout is not a close: tests that expect the server to hang up must not pass by waiting.
    if (n < 0) ADD_FAILURE() << "recv: " << std::strerror(errno);
    if (n <= 0) return false;
    buffer.append(buf, size_t(n));
    return true;
  };
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return {};
  }
  Reply r;
  r.head = buffer.substr(0, end);
  buffer.erase(0, end + 4);
  r.status = std::stoi(r.head.substr(9, 3));
  size_t length = 0;
  size_t cl = r.head.find("Content-Length: ");
  if (cl != std::string::npos) length = std::stoul(r.head.substr(cl + 16));
  while (buffer.size() < length) {
    if (!fill()) return {};
  }
  r.body = buffer.substr(0, length);
  buffer.erase(0, length);
  return r;
}

HttpResponse echo(const HttpRequest& r) {
  return HttpResponse{200, r.method + " " + r.path + " " + r.body.value_or(""), "text/plain"};
}

// An HttpServer on "api.sock" in a temporary directory of its own, removed after the server.
struct ServerDir {
  TempDir dir;
};
class TestServer : private ServerDir, public HttpServer {
 public:
  explicit TestServer(Handler handler, Options options = {})
      : HttpServer(dir.file("api.sock"), std::move(handler), options) {}
  UniqueFd connect() const { return connect_to(socket_path()); }
};

TEST(HttpServer, KeepAliveAndPipelining) {
  TestServer server(echo);
  UniqueFd c = server.connect();
  std::string buf;
  send_all(c, "GET /a HTTP/1.1\r\n\r\n");
  Reply r = read_reply(c, buf);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /a ");
  EXPECT_NE(r.head.find("Connection: keep-alive"), std::string::npos);
  // Same connection, two pipelined requests in one write.
  send_all(c, "PUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(c, buf).body, "PUT /b hi");
  EXPECT_EQ(read_reply(c, buf).body, "GET /c ");
  // Connection: close is honoured.
  send_all(c, "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n");
  r = read_reply(c, buf);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(read_reply(c, buf).status, 0);
}

TEST(HttpServer, TwoClientsAtOnce) {
  TestServer server(echo);
  UniqueFd a = server.connect();
  UniqueFd b = server.connect();
  std::string abuf, bbuf;
  // A's half-sent request must not hold up B.
  send_all(a, "PUT /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
  send_all(b, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(b, bbuf).body, "GET /b ");
  send_all(a, "cd");
  EXPECT_EQ(read_reply(a, abuf).body, "PUT /a abcd");
}

// Waits (up to 5 s, a bound for a hung server, not a verdict on speed) until `pred` holds.
bool eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// PUT /wait answers through a DeferredResponse the test completes; everything else echoes.
struct DeferringHandler {
  std::mutex mutex;
  std::vector<std::shared_ptr<DeferredResponse>> waiting;
  HttpServer::Handler handler() {
    return [this](const HttpRequest& r) {
      if (r.path != "/wait") return echo(r);
      auto d = std::make_shared<DeferredResponse>();
      std::lock_guard lock(mutex);
      waiting.push_back(d);
      HttpResponse resp;
      resp.deferred = d;
      return resp;
    };
  }
  std::shared_ptr<DeferredResponse> get(size_t i) {
    std::lock_guard lock(mutex);
    return i < waiting.size() ? waiting[i] : nullptr;
  }
};

TEST(HttpServer, DeferredResponseWaitsWhileOthersAreServed) {
  DeferringHandler h;
  TestServer server(h.handler());
  UniqueFd a = server.connect();
  UniqueFd b = server.connect();
  std::string abuf, bbuf;
  send_all(a, "PUT /wait HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return server.stats().deferred_pending == 1; }));
  send_all(b, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(b, bbuf).body, "GET /b ");
  // A has nothing yet: neither its deferred answer nor the pipelined one.
  pollfd p{a.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  std::thread completer([&] { h.get(0)->complete(HttpResponse{202, "done later", "text/plain"}); });
  completer.join();
  Reply r = read_reply(a, abuf);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "done later");
  EXPECT_EQ(read_reply(a, abuf).body, "GET /after ");
  EXPECT_TRUE(eventually([&] { return server.stats().deferred_pending == 0; }));
  EXPECT_EQ(h.get(1), nullptr);  // the pipelined request was not a second deferred one
}

TEST(HttpServer, AClientThatLeavesWhileWaitingDoesNotBreakTheServer) {
  DeferringHandler h;
  TestServer server(h.handler());
  {
    UniqueFd a = server.connect();
    send_all(a, "PUT /wait HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return server.stats().deferred_pending == 1; }));
  }  // A hangs up
  UniqueFd b = server.connect();
  std::string bbuf;
  send_all(b, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(b, bbuf).body, "GET /b ");
  std::thread completer([&] { h.get(0)->complete(HttpResponse{200, "nobody listens", "text/plain"}); });
  completer.join();
  EXPECT_TRUE(eventually([&] { return server.stats().deferred_pending == 0; }));
  send_all(b, "GET /c HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(b, bbuf).body, "GET /c ");
}

TEST(HttpServer, PayloadTooLargeClosesConnection) {
  TestServer server(echo, {.max_body_bytes = 10});
  UniqueFd c = server.connect();
  std::string buf;
  send_all(c, "PUT /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  Reply r = read_reply(c, buf);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("larger than the limit of 10"), std::string::npos) << r.body;
  EXPECT_EQ(read_reply(c, buf).status, 0);
}

TEST(HttpServer, ExpectContinue) {
  TestServer server(echo);
  UniqueFd c = server.connect();
  std::string buf;
  send_all(c, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(read_reply(c, buf).status, 100);
  send_all(c, "abc");
  EXPECT_EQ(read_reply(c, buf).body, "PUT /x abc");
}

TEST(HttpServer, UnfinishedRequestTimesOut) {
  TestServer server(echo, {.request_timeout_ms = 100});
  UniqueFd idle = server.connect();
  UniqueFd slow = server.connect();
  std::string buf;
  send_all(idle, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(idle, buf).status, 200);
  send_all(slow, "GET / HTT");
  EXPECT_EQ(read_reply(slow, buf).status, 0);  // closed by the server
  // An idle keep-alive connection survives the same wait.
  send_all(idle, "GET /again HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(idle, buf).body, "GET /again ");
}

TEST(HttpServer, HandlerExceptionBecomes500) {
  TestServer server([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  UniqueFd c = server.connect();
  std::string buf;
  send_all(c, "GET / HTTP/1.1\r\n\r\n");
  Reply r = read_reply(c, buf);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"fault_message":"boom"})");
}

TEST(HttpServer, SocketFileLifecycle) {
  TempDir dir;
  std::string path = dir.file("api.sock");
  {
    HttpServer server(path, echo);
    EXPECT_TRUE(fs::is_socket(path));
    // Something is listening: a second server must refuse.
    try {
      HttpServer second(path, echo);
      ADD_FAILURE() << "second server started";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "api socket '" + path + "': another process is listening on it");
    }
  }
  EXPECT_FALSE(fs::exists(path));  // removed on shutdown

  // A stale socket (bound, nobody listening) is replaced.
  {
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ASSERT_TRUE(fs::is_socket(path));
  HttpServer server(path, echo);
  UniqueFd c = connect_to(path);
  std::string buf;
  send_all(c, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(c, buf).status, 200);
}

TEST(HttpServer, RefusesNonSocketPathAndLongPath) {
  TempDir dir;
  std::string path = dir.file("regular");
  std::ofstream(path) << "x";
  EXPECT_THROW(HttpServer(path, echo), Error);
  EXPECT_TRUE(fs::exists(path));  // never deletes what is not a socket
  EXPECT_THROW(HttpServer(dir.file(std::string(120, 'a').c_str()), echo), Error);
}

// ---- Hostile clients: every test below bounds its own time. ----

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool wait_until(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Sends what the peer takes without blocking, until all is sent or nothing moves for `stall_ms`.
size_t send_what_fits(const UniqueFd& fd, std::string_view data, int stall_ms = 300) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += size_t(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) break;
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, stall_ms) <= 0) break;
  }
  return sent;
}

// True when the server closed `fd` within `timeout_ms` (unread response bytes are discarded).
bool closed_by_server(const UniqueFd& fd, int timeout_ms) {
  const auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
  }
  return false;
}

struct Trickle {
  bool closed = false;
  double elapsed_ms = 0;
  size_t bytes_sent = 0;
};

// Sends `data` one byte every `interval_ms`, until the server hangs up or `give_up_ms` passes.
Trickle trickle(const UniqueFd& fd, std::string_view data, int interval_ms, int give_up_ms) {
  Trickle t;
  const auto start = Clock::now();
  while (ms_since(start) < give_up_ms && t.bytes_sent < data.size()) {
    if (::send(fd.get(), data.data() + t.bytes_sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
      t.closed = errno == EPIPE || errno == ECONNRESET;
      break;
    }
    ++t.bytes_sent;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, interval_ms) > 0) {
      char buf[4096];
      ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        t.closed = true;
        break;
      }
    }
  }
  t.elapsed_ms = ms_since(start);
  return t;
}

// /big answers 4 KiB, /slow takes 1 ms; anything else echoes.
HttpResponse test_handler(const HttpRequest& r) {
  if (r.path == "/big") return HttpResponse{200, std::string(4096, 'b'), "text/plain"};
  if (r.path == "/slow") {
    std::this_thread::sleep_for(milliseconds(1));
    return HttpResponse{200, "ok", "text/plain"};
  }
  return echo(r);
}

int get_status(const UniqueFd& fd, std::string& buf, const std::string& path = "/") {
  send_all(fd, "GET " + path + " HTTP/1.1\r\n\r\n");
  return read_reply(fd, buf).status;
}

TEST(HttpServerLimits, AtTheConnectionLimitANewClientEvictsTheLongestIdleConnection) {
  TestServer server(test_handler, {.max_connections = 4});
  std::vector<UniqueFd> idle;
  std::vector<std::string> bufs(4);
  for (int i = 0; i < 4; ++i) idle.push_back(server.connect());
  // Used in the order 1, 2, 3, 0: connection 1 has been idle longest.
  for (int i : {1, 2, 3, 0}) ASSERT_EQ(get_status(idle[size_t(i)], bufs[size_t(i)]), 200);
  ASSERT_TRUE(wait_until([&] { return server.stats().connections == 4; }, 2000));

  const auto start = Clock::now();
  UniqueFd fifth = server.connect();
  std::string buf;
  EXPECT_EQ(get_status(fifth, buf), 200);
  EXPECT_LT(ms_since(start), 1000);
  EXPECT_EQ(server.stats().evicted, 1u);
  EXPECT_EQ(server.stats().connections, 4u);
  EXPECT_EQ(read_reply(idle[1], bufs[1]).status, 0);  // the evicted one was closed, not left hanging
  for (int i : {0, 2, 3}) EXPECT_EQ(get_status(idle[size_t(i)], bufs[size_t(i)]), 200) << i;
}

TEST(HttpServerLimits, WithNothingToEvictNewClientsWaitInTheBacklogInsteadOfBeingDropped) {
  TestServer server(test_handler, {.max_connections = 2});
  // Two clients the server owes responses to (they never read) hold both slots.
  UniqueFd x = server.connect();
  UniqueFd y = server.connect();
  const std::string burst = repeat("GET /big HTTP/1.1\r\n\r\n", 2000);
  send_what_fits(x, burst);
  send_what_fits(y, burst);
  ASSERT_TRUE(wait_until([&] { return server.stats().buffered_output_bytes >= 2 * HttpServer::Options{}.max_output_bytes; }, 3000))
      << server.stats().buffered_output_bytes;

  UniqueFd z = server.connect();  // lands in the backlog
  send_all(z, "GET /z HTTP/1.1\r\n\r\n");
  pollfd p{z.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "the waiting client was answered or dropped";
  EXPECT_EQ(server.stats().accepted, 2u);

  x.reset();  // frees a slot: z is accepted and answered
  std::string buf;
  Reply r = read_reply(z, buf);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /z ");
}

TEST(HttpServerLimits, ANeverReadingPipelinerIsHeldToTheOutputBoundAndOthersAreServed) {
  TestServer server(test_handler);
  const size_t bound = HttpServer::Options{}.max_output_bytes;
  const size_t one_response = serialize(HttpResponse{200, std::string(4096, 'b'), "text/plain"}, true).size();
  UniqueFd pipeliner = server.connect();
  size_t sent = send_what_fits(pipeliner, repeat("GET /big HTTP/1.1\r\n\r\n", 50000));
  EXPECT_LT(sent, 50000u * 21) << "the server kept reading requests nobody takes answers to";
  ASSERT_TRUE(wait_until([&] { return server.stats().buffered_output_bytes >= bound; }, 3000));
  std::this_thread::sleep_for(milliseconds(200));
  HttpServer::Stats s = server.stats();
  std::printf("pipeliner: %zu request bytes taken, %zu output bytes buffered (peak %zu)\n", sent,
              s.buffered_output_bytes, s.peak_connection_output);
  EXPECT_LE(s.buffered_output_bytes, bound + one_response);
  EXPECT_LE(s.peak_connection_output, bound + one_response);

  UniqueFd other = server.connect();
  std::string buf;
  const auto start = Clock::now();
  EXPECT_EQ(get_status(other, buf, "/other"), 200);
  EXPECT_LT(ms_since(start), 500);
  // Once the pipeliner reads, it is served again.
  std::string pbuf;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(read_reply(pipeliner, pbuf).status, 200) << i;
}

TEST(HttpServerLimits, AClientThatFillsTheSocketAndKeepsSendingDoesNotMakeTheThreadSpin) {
  TestServer server(test_handler);
  UniqueFd stuck = server.connect();
  // Answers nobody reads, then a bad request (the old server stopped reading there but kept
  // polling), then more requests.
  std::string flood = repeat("GET /big HTTP/1.1\r\n\r\n", 2000) + "BAD REQUEST LINE HERE\r\n\r\n" +
                      repeat("GET / HTTP/1.1\r\n\r\n", 1000);
  send_what_fits(stuck, flood);
  ASSERT_TRUE(wait_until([&] { return server.stats().buffered_output_bytes > 0; }, 3000));
  std::this_thread::sleep_for(milliseconds(100));
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(milliseconds(1000));
  const double used = process_cpu_seconds() - before;
  std::printf("process CPU over 1 s with a stuck client: %.3f s\n", used);
  EXPECT_LT(used, 0.3) << "the API thread is busy while nothing can progress";
  UniqueFd other = server.connect();
  std::string buf;
  EXPECT_EQ(get_status(other, buf), 200);
}

TEST(HttpServerLimits, SlowHeadersAreCutOffAtTheRequestTimeoutEvenWhileBytesTrickleIn) {
  TestServer server(test_handler, {.request_timeout_ms = 300});
  UniqueFd slow = server.connect();
  Trickle t = trickle(slow, "GET / HTTP/1.1\r\nX-Slow: " + std::string(4000, 'a'), 25, 3000);
  EXPECT_TRUE(t.closed);
  EXPECT_GE(t.elapsed_ms, 280);
  EXPECT_LT(t.elapsed_ms, 1500);
  EXPECT_GE(t.bytes_sent, 8u);  // each byte arrived well within the timeout
  EXPECT_EQ(server.stats().timed_out, 1u);
}

TEST(HttpServerLimits, SlowBodiesAreCutOffAtTheRequestTimeout) {
  TestServer server(test_handler, {.request_timeout_ms = 300});
  UniqueFd slow = server.connect();
  send_all(slow, "PUT /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
  Trickle t = trickle(slow, std::string(1000, 'x'), 25, 3000);
  EXPECT_TRUE(t.closed);
  EXPECT_GE(t.elapsed_ms, 250);
  EXPECT_LT(t.elapsed_ms, 1500);
  EXPECT_EQ(server.stats().timed_out, 1u);
}

TEST(HttpServerLimits, AReaderThatTakesNothingIsClosedButASlowReaderIsNot) {
  TestServer server(test_handler, {.request_timeout_ms = 500});
  const std::string burst = repeat("GET /big HTTP/1.1\r\n\r\n", 2000);
  UniqueFd sleeper = server.connect();
  UniqueFd sipper = server.connect();
  send_what_fits(sleeper, burst);
  send_what_fits(sipper, burst);
  // The sipper takes 16 KiB every 50 ms: slow, but progress (the kernel frees socket buffer
  // space, which is all the server sees, one sent chunk of up to ~64 KiB at a time).
  const auto start = Clock::now();
  while (ms_since(start) < 1500) {
    char buf[16384];
    ASSERT_GT(::recv(sipper.get(), buf, sizeof(buf), 0), 0);
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(closed_by_server(sleeper, 1000));
  EXPECT_EQ(server.stats().connections, 1u);
  EXPECT_EQ(server.stats().timed_out, 1u);
}

TEST(HttpServerLimits, IdleTimeoutIsOffByDefaultAndClosesOnlyIdleConnectionsWhenSet) {
  TestServer server(test_handler, {.idle_timeout_ms = 200});
  UniqueFd idle = server.connect();
  UniqueFd busy = server.connect();
  std::string buf;
  const auto start = Clock::now();
  while (ms_since(start) < 600) {
    ASSERT_EQ(get_status(busy, buf), 200);
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(closed_by_server(idle, 1000));
  EXPECT_EQ(get_status(busy, buf), 200);
  EXPECT_EQ(server.stats().timed_out, 1u);
  EXPECT_EQ(HttpServer::Options{}.idle_timeout_ms, 0);  // UnfinishedRequestTimesOut shows idle survives
}

TEST(HttpServerLimits, AHalfClosedClientGetsEveryAnswerAndIsThenClosed) {
  TestServer server(test_handler);
  UniqueFd c = server.connect();
  send_all(c, "GET /one HTTP/1.1\r\n\r\nPUT /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  std::string buf;
  EXPECT_EQ(read_reply(c, buf).body, "GET /one ");
  EXPECT_EQ(read_reply(c, buf).body, "PUT /two abc");
  EXPECT_EQ(read_reply(c, buf).status, 0);  // then EOF, not a hang
  // Half-closed in the middle of a request: nothing to answer, closed at once.
  UniqueFd partial = server.connect();
  send_all(partial, "GET /unfinished HTTP/1.1\r\n");
  ASSERT_EQ(::shutdown(partial.get(), SHUT_WR), 0);
  EXPECT_TRUE(closed_by_server(partial, 1000));
  EXPECT_TRUE(wait_until([&] { return server.stats().connections == 0; }, 1000));
}

TEST(HttpServerLimits, APipelinedBurstDoesNotDelayAnotherClientsRequest) {
  TestServer server(test_handler);
  UniqueFd flood = server.connect();
  const size_t response_size = serialize(HttpResponse{200, "ok", "text/plain"}, true).size();
  std::atomic<size_t> received{0};
  // 10000 requests of 1 ms each: about 10 s of work queued on one connection.
  std::thread sender([&] {
    std::string burst = repeat("GET /slow HTTP/1.1\r\n\r\n", 10000);
    std::string_view rest = burst;
    while (!rest.empty()) {
      ssize_t n = ::send(flood.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      rest.remove_prefix(size_t(n));
    }
  });
  std::thread reader([&] {
    char buf[65536];
    while (true) {
      ssize_t n = ::recv(flood.get(), buf, sizeof(buf), 0);
      if (n <= 0) return;
      received += size_t(n);
    }
  });
  ASSERT_TRUE(wait_until([&] { return received.load() > 10 * response_size; }, 3000));
  UniqueFd other = server.connect();
  std::string buf;
  double worst = 0;
  for (int i = 0; i < 10; ++i) {
    const auto start = Clock::now();
    EXPECT_EQ(get_status(other, buf, "/fast"), 200);
    worst = std::max(worst, ms_since(start));
    std::this_thread::sleep_for(milliseconds(20));
  }
  const size_t answered = received.load() / response_size;
  ::shutdown(flood.get(), SHUT_RDWR);  // ends both threads
  sender.join();
  reader.join();
  std::printf("slowest of 10 requests behind a 10000-request burst: %.1f ms (%zu burst requests answered)\n",
              worst, answered);
  EXPECT_LT(worst, 100) << "another client's single request waited behind the burst";
  EXPECT_LT(answered, 10000u) << "the burst was over before the other client asked; nothing was shown";
}

TEST(HttpServerLimits, LimitsThatAreNotPositiveAreRefusedBeforeBinding) {
  TempDir dir;
  const std::string path = dir.file("api.sock");
  auto refuses = [&](HttpServer::Options o, const std::string& message) {
    try {
      HttpServer server(path, test_handler, o);
      ADD_FAILURE() << "accepted: " << message;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
    EXPECT_FALSE(fs::exists(path));
  };
  HttpServer::Options o;
  o.max_connections = 0;
  refuses(o, "api server: max connections must be positive");
  o = {};
  o.max_body_bytes = 0;
  refuses(o, "api server: max payload size must be positive");
  o = {};
  o.request_timeout_ms = 0;
  refuses(o, "api server: request timeout must be positive");
  o = {};
  o.idle_timeout_ms = -1;
  refuses(o, "api server: idle timeout must not be negative (0: never)");
  o = {};
  o.max_output_bytes = 0;
  refuses(o, "api server: max output bytes must be positive");
}

}  // namespace
}  // namespace hearth::api
