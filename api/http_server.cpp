#include "api/http_server.h"

#include <pthread.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "api/deferred_response.h"
#include "vmm/base/error.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::api {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kListenBacklog = 128;    // clients wait here while every slot is busy
constexpr size_t kReadChunk = 16384;   // bytes read from one connection per round
constexpr int kRequestsPerTurn = 4;    // requests answered on one connection per round
constexpr int kAcceptsPerTurn = 64;
constexpr milliseconds kAcceptBackoff{100};  // after EMFILE/ENFILE: the listener stays readable
constexpr uint64_t kStopId = 0, kListenerId = 1, kDeferredId = 2;

struct Connection {
  Connection(uint64_t id_, int fd, size_t max_body, Clock::time_point now)
      : id(id_), sock(fd), parser(max_body), last_useful(now), last_activity(now) {}
  uint64_t id;
  UniqueFd sock;
  HttpRequestParser parser;
  std::string out;             // response bytes not yet written
  uint32_t events = 0;         // what epoll is asked to report now
  bool ready = false;          // a complete request waits in the parser
  bool queued = false;         // on the work list
  bool read_eof = false;       // the client shut down its sending side
  bool close_after_write = false;
  bool timing_request = false;  // waiting for the rest of a started request
  std::shared_ptr<DeferredResponse> awaiting;  // a response that comes later; nothing else is served meanwhile
  bool awaiting_keep_alive = true;
  Clock::time_point request_started{};
  Clock::time_point write_waiting_since{};  // out non-empty and no byte taken since
  Clock::time_point last_useful;    // accepted, or a request started or completed (eviction order)
  Clock::time_point last_activity;  // any byte in or out (idle timeout)
};

const HttpServer::Options& validated(const HttpServer::Options& o) {
  auto fail = [](const char* what) {
    throw Error(fmt::format("api server: {} must be positive", what));
  };
  if (o.max_body_bytes == 0) fail("max payload size");
  if (o.max_connections == 0) fail("max connections");
  if (o.request_timeout_ms <= 0) fail("request timeout");
  if (o.idle_timeout_ms < 0) throw Error("api server: idle timeout must not be negative (0: never)");
  if (o.max_output_bytes == 0) fail("max output bytes");
  return o;
}

}  // namespace

// Level-triggered epoll where every registration asks only for events the loop will consume
// right away: EPOLLIN only while the connection may read (no complete request waiting, output
// below its bound, not shut down), EPOLLOUT only while output is pending. Work that needs no
// event (requests already buffered in a parser) lives on the work list and makes the next wait
// non-blocking.
class HttpServer::Loop {
 public:
  explicit Loop(HttpServer& server) : s_(server), opt_(server.options_) {}
  void run();

 private:
  bool can_read(const Connection& c) const {
    return !c.close_after_write && !c.read_eof && !c.ready && !c.awaiting && c.out.size() < opt_.max_output_bytes;
  }
  // The server owes it nothing right now, so it may be evicted.
  static bool evictable(const Connection& c) { return c.out.empty() && !c.ready && !c.queued && !c.awaiting; }

  void watch(int fd, uint64_t id, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    ::epoll_ctl(ep_.get(), op, fd, &ev);
  }
  void append(Connection& c, std::string_view bytes);
  bool flush(Connection& c);
  void close(Connection& c, std::atomic<uint64_t>* reason = nullptr);
  void accept_clients();
  void on_event(Connection& c, uint32_t events);
  void serve(Connection& c);
  void settle(Connection& c);
  void answer_deferred();
  Connection* eviction_victim();
  void update_listener();
  void expire();
  int wait_timeout();
  void count_output(size_t added, size_t removed) {
    buffered_ = buffered_ + added - removed;
    s_.counters_.buffered_output_bytes.store(buffered_, std::memory_order_relaxed);
  }

  HttpServer& s_;
  const Options& opt_;
  UniqueFd ep_;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::deque<uint64_t> work_;  // connections with input to parse or requests to answer
  uint64_t next_id_ = 3;
  bool listening_ = false;
  Clock::time_point accept_paused_until_{};
  size_t buffered_ = 0;
};

void HttpServer::Loop::append(Connection& c, std::string_view bytes) {
  if (c.out.empty()) c.write_waiting_since = Clock::now();
  c.out += bytes;
  count_output(bytes.size(), 0);
  if (c.out.size() > s_.counters_.peak_connection_output.load(std::memory_order_relaxed)) {
    s_.counters_.peak_connection_output.store(c.out.size(), std::memory_order_relaxed);
  }
}

// Writes as much of c.out as the socket takes; false when the peer is gone.
bool HttpServer::Loop::flush(Connection& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.sock.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;
    }
    c.out.erase(0, size_t(n));
    count_output(0, size_t(n));
    c.last_activity = c.write_waiting_since = Clock::now();
  }
  if (c.out.capacity() > kReadChunk) std::string().swap(c.out);  // idle connections stay small
  return true;
}

// Counters first: a client that sees the close may read them at once.
void HttpServer::Loop::close(Connection& c, std::atomic<uint64_t>* reason) {
  count_output(0, c.out.size());
  if (c.awaiting) s_.counters_.deferred_pending.fetch_sub(1, std::memory_order_relaxed);
  s_.counters_.connections.store(conns_.size() - 1, std::memory_order_relaxed);
  if (reason) reason->fetch_add(1, std::memory_order_relaxed);
  conns_.erase(c.id);  // closing the fd also drops it from epoll; stale work/event ids are skipped
}

void HttpServer::Loop::accept_clients() {
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    Connection* victim = nullptr;
    if (conns_.size() >= opt_.max_connections && !(victim = eviction_victim())) return;
    int fd = ::accept4(s_.listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of fds: the pending client keeps the listener readable, so stop watching it a while.
      if (errno != EAGAIN) accept_paused_until_ = Clock::now() + kAcceptBackoff;
      return;
    }
    if (victim) close(*victim, &s_.counters_.evicted);
    uint64_t id = next_id_++;
    auto c = std::make_unique<Connection>(id, fd, opt_.max_body_bytes, Clock::now());
    c->events = EPOLLIN | EPOLLRDHUP;
    watch(fd, id, c->events, EPOLL_CTL_ADD);
    conns_.emplace(id, std::move(c));
    s_.counters_.connections.store(conns_.size(), std::memory_order_relaxed);
    s_.counters_.accepted.fetch_add(1, std::memory_order_relaxed);
  }
}

void HttpServer::Loop::on_event(Connection& c, uint32_t events) {
  if (events & EPOLLERR) return close(c);
  if (!c.out.empty() && (events & (EPOLLOUT | EPOLLHUP)) && !flush(c)) return close(c);
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && can_read(c)) {
    char buf[kReadChunk];
    ssize_t got = ::recv(c.sock.get(), buf, sizeof(buf), 0);
    if (got > 0) {
      c.last_activity = Clock::now();
      c.parser.feed(std::string_view(buf, size_t(got)));
      if (!c.queued) {
        c.queued = true;
        work_.push_back(c.id);
      }
    } else if (got == 0) {
      c.read_eof = true;  // a half-closed client still gets the answers to what it sent
    } else if (errno != EAGAIN && errno != EINTR) {
      return close(c);
    }
  }
  settle(c);
}

// Answers at most kRequestsPerTurn requests, so one client's pipelined burst cannot starve the
// others; what is left stays buffered and the connection goes back on the work list.
void HttpServer::Loop::serve(Connection& c) {
  c.queued = false;
  for (int budget = kRequestsPerTurn;;) {
    HttpRequestParser::State st = c.parser.feed("");
    if (c.parser.take_continue()) append(c, "HTTP/1.1 100 Continue\r\n\r\n");
    if (st == HttpRequestParser::State::kError) {
      append(c, serialize(c.parser.error(), false));
      c.close_after_write = true;
      c.ready = false;
      break;
    }
    c.ready = st == HttpRequestParser::State::kComplete;
    if (!c.ready || budget == 0 || c.out.size() >= opt_.max_output_bytes) break;
    --budget;
    HttpRequest req = c.parser.take();
    c.ready = false;
    HttpResponse resp;
    try {
      resp = s_.handler_(req);
    } catch (const std::exception& e) {
      resp = HttpResponse{500, fault_body(e.what())};
    }
    if (resp.deferred) {
      c.awaiting = std::move(resp.deferred);
      c.awaiting_keep_alive = req.keep_alive;
      s_.counters_.deferred_pending.fetch_add(1, std::memory_order_relaxed);
      std::weak_ptr<EventFd> wake = s_.deferred_wake_;
      c.awaiting->on_complete([wake] {
        if (auto fd = wake.lock()) fd->signal();
      });
      break;
    }
    append(c, serialize(resp, req.keep_alive));
    c.last_useful = Clock::now();
    if (!req.keep_alive) {
      c.close_after_write = true;
      break;
    }
  }
  if (!flush(c)) return close(c);
  settle(c);
}

// Brings a connection's epoll mask, work-list entry and request timer in line with its state,
// or closes it when nothing is left to do. `c` may be gone afterwards.
void HttpServer::Loop::settle(Connection& c) {
  if (c.out.empty() && (c.close_after_write || (c.read_eof && !c.ready && !c.queued))) {
    return close(c);
  }
  if (c.ready && !c.queued && !c.close_after_write && c.out.size() < opt_.max_output_bytes) {
    c.queued = true;
    work_.push_back(c.id);
  }
  // The timer runs from a request's first byte while the server waits for the rest; it pauses
  // while back-pressure (the client's own unread output) stops reading.
  bool waiting = !c.ready && c.parser.mid_request() && can_read(c);
  if (!waiting) {
    c.timing_request = false;
  } else if (!c.timing_request) {
    c.timing_request = true;
    c.request_started = c.last_useful = Clock::now();
  }
  uint32_t want = (can_read(c) ? uint32_t(EPOLLIN | EPOLLRDHUP) : 0u) | (c.out.empty() ? 0u : uint32_t(EPOLLOUT));
  if (want != c.events) {
    c.events = want;
    watch(c.sock.get(), c.id, want, EPOLL_CTL_MOD);
  }
}

// Sends every deferred response that has completed; the connection then serves its next requests.
void HttpServer::Loop::answer_deferred() {
  s_.deferred_wake_->consume();
  std::vector<uint64_t> done;
  for (auto& [id, c] : conns_) {
    if (!c->awaiting) continue;
    auto resp = c->awaiting->take();
    if (!resp) continue;
    c->awaiting.reset();
    s_.counters_.deferred_pending.fetch_sub(1, std::memory_order_relaxed);
    append(*c, serialize(*resp, c->awaiting_keep_alive));
    c->last_useful = Clock::now();
    if (!c->awaiting_keep_alive) c->close_after_write = true;
    done.push_back(id);
  }
  for (uint64_t id : done) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Connection& c = *it->second;
    if (!flush(c)) {
      close(c);
      continue;
    }
    if (!c.queued && !c.close_after_write) {  // requests it pipelined meanwhile
      c.queued = true;
      work_.push_back(c.id);
    }
    settle(c);
  }
}

Connection* HttpServer::Loop::eviction_victim() {
  Connection* victim = nullptr;
  for (auto& [id, c] : conns_) {
    if (evictable(*c) && (!victim || c->last_useful < victim->last_useful)) victim = c.get();
  }
  return victim;
}

void HttpServer::Loop::update_listener() {
  bool want = Clock::now() >= accept_paused_until_ &&
              (conns_.size() < opt_.max_connections || eviction_victim() != nullptr);
  if (want == listening_) return;
  listening_ = want;
  watch(s_.listener_.fd(), kListenerId, EPOLLIN, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL);
}

void HttpServer::Loop::expire() {
  const auto now = Clock::now();
  const milliseconds request_timeout(opt_.request_timeout_ms), idle_timeout(opt_.idle_timeout_ms);
  for (auto it = conns_.begin(); it != conns_.end();) {
    Connection& c = *it->second;
    ++it;
    bool expired = false;
    if (c.timing_request && now - c.request_started >= request_timeout) {
      // Bytes already waiting were held up by the server (a slow handler), not by the client.
      char byte;
      expired = ::recv(c.sock.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
    }
    if (!expired && !c.out.empty() && now - c.write_waiting_since >= request_timeout) {
      if (!flush(c)) {
        close(c);
        continue;
      }
      expired = !c.out.empty() && now - c.write_waiting_since >= request_timeout;
      if (!expired) {
        settle(c);
        continue;
      }
    }
    expired = expired || (opt_.idle_timeout_ms > 0 && evictable(c) && !c.parser.mid_request() &&
                          now - c.last_activity >= idle_timeout);
    if (expired) close(c, &s_.counters_.timed_out);
  }
}

// Until the earliest deadline (or not at all), and no wait while work is buffered.
int HttpServer::Loop::wait_timeout() {
  if (!work_.empty()) return 0;
  const milliseconds request_timeout(opt_.request_timeout_ms), idle_timeout(opt_.idle_timeout_ms);
  auto deadline = Clock::time_point::max();
  if (accept_paused_until_ > Clock::now()) deadline = std::min(deadline, accept_paused_until_);
  for (const auto& [id, c] : conns_) {
    if (c->timing_request) deadline = std::min(deadline, c->request_started + request_timeout);
    if (!c->out.empty()) deadline = std::min(deadline, c->write_waiting_since + request_timeout);
    if (opt_.idle_timeout_ms > 0 && evictable(*c) && !c->parser.mid_request()) {
      deadline = std::min(deadline, c->last_activity + idle_timeout);
    }
  }
  if (deadline == Clock::time_point::max()) return -1;
  auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return int(std::clamp<decltype(left)>(left, 0, std::numeric_limits<int>::max()));
}

void HttpServer::Loop::run() {
  ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep_) return;
  watch(s_.stop_.fd(), kStopId, EPOLLIN, EPOLL_CTL_ADD);
  watch(s_.deferred_wake_->fd(), kDeferredId, EPOLLIN, EPOLL_CTL_ADD);
  epoll_event events[64];
  while (true) {
    update_listener();
    int n = ::epoll_wait(ep_.get(), events, 64, wait_timeout());
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == kStopId) return;
      if (id == kDeferredId) {
        answer_deferred();
        continue;
      }
      if (id == kListenerId) {
        accept_clients();
        continue;
      }
      auto it = conns_.find(id);
      if (it != conns_.end()) on_event(*it->second, events[i].events);
    }
    // One turn for each connection queued so far; those it re-queues wait for the next round.
    for (size_t turns = work_.size(); turns > 0; --turns) {
      uint64_t id = work_.front();
      work_.pop_front();
      auto it = conns_.find(id);
      if (it != conns_.end() && it->second->queued) serve(*it->second);
    }
    expire();
  }
}

HttpServer::HttpServer(const std::string& socket_path, Handler handler, Options options)
    : options_(validated(options)),
      listener_(socket_path, kListenBacklog),
      handler_(std::move(handler)) {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "fc_api");
    seccomp::install_thread_filter(seccomp::ThreadKind::kApi);  // before the first client byte
    Loop(*this).run();
  });
}

HttpServer::~HttpServer() {
  stop_.signal();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::wait_until_answered(std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const Stats s = stats();
    if (s.deferred_pending == 0 && s.buffered_output_bytes == 0) return;
    std::this_thread::sleep_for(milliseconds(2));
  }
}

HttpServer::Stats HttpServer::stats() const {
  Stats s;
  s.connections = counters_.connections.load(std::memory_order_relaxed);
  s.buffered_output_bytes = counters_.buffered_output_bytes.load(std::memory_order_relaxed);
  s.peak_connection_output = counters_.peak_connection_output.load(std::memory_order_relaxed);
  s.accepted = counters_.accepted.load(std::memory_order_relaxed);
  s.evicted = counters_.evicted.load(std::memory_order_relaxed);
  s.timed_out = counters_.timed_out.load(std::memory_order_relaxed);
  s.deferred_pending = counters_.deferred_pending.load(std::memory_order_relaxed);
  return s;
}

}  // namespace hearth::api
