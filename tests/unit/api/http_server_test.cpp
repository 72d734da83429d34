#include "api/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

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

TEST(HttpServer, KeepAliveAndPipelining) {
  TempDir dir;
  HttpServer server(dir.file("api.sock"), echo);
  UniqueFd c = connect_to(server.socket_path());
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
  TempDir dir;
  HttpServer server(dir.file("api.sock"), echo);
  UniqueFd a = connect_to(server.socket_path());
  UniqueFd b = connect_to(server.socket_path());
  std::string abuf, bbuf;
  // A's half-sent request must not hold up B.
  send_all(a, "PUT /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
  send_all(b, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(b, bbuf).body, "GET /b ");
  send_all(a, "cd");
  EXPECT_EQ(read_reply(a, abuf).body, "PUT /a abcd");
}

TEST(HttpServer, PayloadTooLargeClosesConnection) {
  TempDir dir;
  HttpServer::Options opts;
  opts.max_body_bytes = 10;
  HttpServer server(dir.file("api.sock"), echo, opts);
  UniqueFd c = connect_to(server.socket_path());
  std::string buf;
  send_all(c, "PUT /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  Reply r = read_reply(c, buf);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("larger than the limit of 10"), std::string::npos) << r.body;
  EXPECT_EQ(read_reply(c, buf).status, 0);
}

TEST(HttpServer, ExpectContinue) {
  TempDir dir;
  HttpServer server(dir.file("api.sock"), echo);
  UniqueFd c = connect_to(server.socket_path());
  std::string buf;
  send_all(c, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(read_reply(c, buf).status, 100);
  send_all(c, "abc");
  EXPECT_EQ(read_reply(c, buf).body, "PUT /x abc");
}

TEST(HttpServer, UnfinishedRequestTimesOut) {
  TempDir dir;
  HttpServer::Options opts;
  opts.request_timeout_ms = 100;
  HttpServer server(dir.file("api.sock"), echo, opts);
  UniqueFd idle = connect_to(server.socket_path());
  UniqueFd slow = connect_to(server.socket_path());
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
  TempDir dir;
  HttpServer server(dir.file("api.sock"), [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("boom");
  });
  UniqueFd c = connect_to(server.socket_path());
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

}  // namespace
}  // namespace hearth::api
