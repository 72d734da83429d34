#include "api/http_server.h"

#include <pthread.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "vmm/base/error.h"

namespace hearth::api {
namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
  explicit Connection(int fd, size_t max_body) : sock(fd), parser(max_body) {}
  UniqueFd sock;
  HttpRequestParser parser;
  std::string out;             // response bytes not yet written
  bool close_after_write = false;
  bool mid_request = false;    // bytes of an unfinished request are buffered
  Clock::time_point request_started{};
};

// Writes as much of c.out as the socket takes; false when the peer is gone.
bool flush(Connection& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.sock.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;
    }
    c.out.erase(0, size_t(n));
  }
  return true;
}

}  // namespace

HttpServer::HttpServer(const std::string& socket_path, Handler handler, Options options)
    : listener_(socket_path), handler_(std::move(handler)), options_(options) {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "fc_api");
    run();
  });
}

HttpServer::~HttpServer() {
  stop_.signal();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::run() {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return;
  auto watch = [&](int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(ep.get(), op, fd, &ev);
  };
  watch(listener_.fd(), EPOLLIN, EPOLL_CTL_ADD);
  watch(stop_.fd(), EPOLLIN, EPOLL_CTL_ADD);
  std::map<int, std::unique_ptr<Connection>> conns;

  auto close_conn = [&](int fd) { conns.erase(fd); };  // UniqueFd close also drops it from epoll

  // Parses and answers every complete request buffered on `c`; false when `c` must close.
  auto serve = [&](Connection& c, std::string_view data) {
    HttpRequestParser::State st = c.parser.feed(data);
    while (true) {
      if (c.parser.take_continue()) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
      if (st == HttpRequestParser::State::kError) {
        c.out += serialize(c.parser.error(), false);
        c.close_after_write = true;
        break;
      }
      if (st == HttpRequestParser::State::kNeedMore) break;
      HttpRequest req = c.parser.take();
      HttpResponse resp;
      try {
        resp = handler_(req);
      } catch (const std::exception& e) {
        resp = HttpResponse{500, fault_body(e.what())};
      }
      c.out += serialize(resp, req.keep_alive);
      if (!req.keep_alive) {
        c.close_after_write = true;
        break;
      }
      st = c.parser.feed("");
    }
    // Only an unfinished request arms the timeout; it counts from its first byte.
    bool partial = !c.close_after_write && c.parser.mid_request();
    if (!partial) {
      c.mid_request = false;
    } else if (!c.mid_request) {
      c.mid_request = true;
      c.request_started = Clock::now();
    }
    if (!flush(c)) return false;
    if (!c.out.empty()) {
      watch(c.sock.get(), EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
      return true;
    }
    return !c.close_after_write;
  };

  epoll_event events[16];
  while (true) {
    int timeout = -1;
    for (auto& [fd, c] : conns) {
      if (c->mid_request) timeout = 500;
    }
    int n = ::epoll_wait(ep.get(), events, 16, timeout);
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_.fd()) return;
      if (fd == listener_.fd()) {
        while (true) {
          int cfd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          if (conns.size() >= options_.max_connections) {
            ::close(cfd);
            continue;
          }
          conns[cfd] = std::make_unique<Connection>(cfd, options_.max_body_bytes);
          watch(cfd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Connection& c = *it->second;
      if (events[i].events & EPOLLOUT) {
        if (!flush(c)) {
          close_conn(fd);
          continue;
        }
        if (c.out.empty()) {
          if (c.close_after_write) {
            close_conn(fd);
            continue;
          }
          watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        }
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (c.close_after_write) continue;  // ignore input after a fatal error
        char buf[4096];
        ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got <= 0) {
          close_conn(fd);
          continue;
        }
        if (!serve(c, std::string_view(buf, size_t(got)))) close_conn(fd);
      }
    }
    auto now = Clock::now();
    for (auto it = conns.begin(); it != conns.end();) {
      const Connection& c = *it->second;
      bool expired = c.mid_request && now - c.request_started >
                                          std::chrono::milliseconds(options_.request_timeout_ms);
      it = expired ? conns.erase(it) : std::next(it);
    }
  }
}

}  // namespace hearth::api
