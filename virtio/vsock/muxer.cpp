#include "virtio/vsock/muxer.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"

namespace hearth::virtio::vsock {
namespace {

constexpr size_t kMaxConnectLine = 32;  // "CONNECT 4294967295\n" is 19

bool make_addr(const std::string& path, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

// Whether something accepts connections at `path` right now.
bool socket_is_live(const std::string& path) {
  sockaddr_un addr;
  if (!make_addr(path, addr)) return false;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return false;
  const int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  return rc == 0 || errno == EAGAIN;  // EAGAIN: a listener with a full backlog is still live
}

// Throws unless `path` is absent or a stale socket; returns true when a stale socket is there.
bool check_path(const std::string& path) {
  sockaddr_un addr;
  if (!make_addr(path, addr)) throw Error(fmt::format("{}: not a usable Unix socket path (1..{} bytes)", path, sizeof addr.sun_path - 1));
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) throw Error(fmt::format("{}: already exists and is not a socket", path));
  if (socket_is_live(path)) throw Error(fmt::format("{}: address in use (something accepts connections there)", path));
  return true;
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

}  // namespace

void check_uds_path_free(const std::string& path) { check_path(path); }

UniqueFd listen_unix(const std::string& path) {
  if (check_path(path)) ::unlink(path.c_str());  // a socket left by a process that is gone
  sockaddr_un addr;
  make_addr(path, addr);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw Error(fmt::format("{}: socket: {}", path, std::strerror(errno)));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw Error(fmt::format("{}: bind: {}", path, std::strerror(errno)));
  if (::listen(fd.get(), 128) != 0) throw Error(fmt::format("{}: listen: {}", path, std::strerror(errno)));
  return fd;
}

Muxer::Muxer(uint64_t guest_cid, std::string uds_path, EventLoop* loop, std::mutex& mutex, VsockMetrics& metrics,
             std::function<void()> rx_ready)
    : guest_cid_(guest_cid),
      uds_path_(std::move(uds_path)),
      loop_(loop),
      mutex_(mutex),
      metrics_(metrics),
      rx_ready_(std::move(rx_ready)) {
  if (!loop_) return;
  listener_ = listen_unix(uds_path_);
  listener_reg_ = EventRegistration(*loop_, listener_.get(), EPOLLIN, [this](uint32_t) {
    std::lock_guard lock(mutex_);
    on_listener();
    rx_ready_();
  });
  connect_timer_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!connect_timer_) throw Error(fmt::format("vsock: timerfd_create: {}", std::strerror(errno)));
  connect_timer_reg_ = EventRegistration(*loop_, connect_timer_.get(), EPOLLIN, [this](uint32_t) {
    std::lock_guard lock(mutex_);
    uint64_t expirations;
    [[maybe_unused]] const ssize_t n = ::read(connect_timer_.get(), &expirations, sizeof expirations);
    connect_timer_armed_ = false;
    on_connect_timer();
    rx_ready_();
  });
}

void Muxer::arm_connect_timer() {
  if (connect_timer_armed_ || !connect_timer_) return;
  // Checked every half timeout: a connection gives up between 1x and 1.5x kConnectTimeoutMs.
  itimerspec spec{};
  spec.it_value.tv_nsec = static_cast<long>(kConnectTimeoutMs % 2000) * 500000;
  spec.it_value.tv_sec = kConnectTimeoutMs / 2000;
  if (::timerfd_settime(connect_timer_.get(), 0, &spec, nullptr) == 0) connect_timer_armed_ = true;
}

void Muxer::on_connect_timer() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<ConnKey> expired;
  bool waiting = false;
  for (const auto& [key, c] : conns_) {
    if (c->state != ConnState::kConnecting) continue;
    if (now >= c->connect_deadline) expired.push_back(key);
    else waiting = true;
  }
  for (const ConnKey& key : expired) {
    ++metrics_.connect_timeouts;
    kill(key, true);  // the guest may still answer later: the RST tells it the request is gone
  }
  if (waiting) arm_connect_timer();
}

Muxer::~Muxer() {
  // Handlers go before the sockets they watch; then the path, which is ours.
  listener_reg_.reset();
  connect_timer_reg_.reset();
  pending_.clear();
  conns_.clear();
  if (listener_) ::unlink(uds_path_.c_str());
}

void Muxer::set_active(bool active) { active_ = active; }

void Muxer::reset_all() {
  pending_.clear();
  conns_.clear();  // closes every host socket: the peers see EOF
  rx_list_.clear();
  resets_.clear();
}

uint64_t Muxer::buffered_bytes() const {
  uint64_t n = 0;
  for (const auto& [key, c] : conns_) n += c->tx_buf.size() + c->rx_stage.size();
  return n;
}

// ---- Host side ----

void Muxer::on_listener() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or an error we cannot do anything about (the peer sees a reset)
    if (!active_ || pending_.size() >= kMaxPendingConnects || conns_.size() + pending_.size() >= kMaxConnections) {
      ++metrics_.conns_refused;
      continue;  // closed: the host peer sees EOF instead of "OK"
    }
    const int raw = fd.get();
    auto p = std::make_unique<PendingConnect>();
    p->fd = std::move(fd);
    p->reg = EventRegistration(*loop_, raw, EPOLLIN, [this, raw](uint32_t) {
      std::lock_guard lock(mutex_);
      on_pending(raw);
      rx_ready_();
    });
    pending_[raw] = std::move(p);
  }
}

void Muxer::on_pending(int raw) {
  auto it = pending_.find(raw);
  if (it == pending_.end()) return;
  // Peek, so bytes the peer sent after the line stay in the socket for the guest.
  char buf[kMaxConnectLine];
  const ssize_t n = ::recv(raw, buf, sizeof buf, MSG_PEEK);
  if (n < 0 && would_block()) return;
  const char* nl = n > 0 ? static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n))) : nullptr;
  if (!nl) {
    if (n > 0 && static_cast<size_t>(n) < sizeof buf) return;  // the rest of the line is on its way
    if (n != 0) ++metrics_.bad_connect_lines;
    pending_.erase(it);  // EOF, an error, or a line too long
    return;
  }
  const size_t line_len = static_cast<size_t>(nl - buf) + 1;
  std::string_view line(buf, line_len - 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint32_t port = 0;
  constexpr std::string_view kVerb = "CONNECT ";
  bool ok = line.starts_with(kVerb) && line.size() > kVerb.size();
  if (ok) {
    const char* first = line.data() + kVerb.size();
    const char* last = line.data() + line.size();
    auto [ptr, ec] = std::from_chars(first, last, port);
    ok = ec == std::errc() && ptr == last;
  }
  if (!ok || !active_) {
    if (!ok) ++metrics_.bad_connect_lines;
    pending_.erase(it);
    return;
  }
  char discard[kMaxConnectLine];
  if (::recv(raw, discard, line_len, 0) != static_cast<ssize_t>(line_len)) {
    pending_.erase(it);
    return;
  }
  UniqueFd fd = std::move(it->second->fd);
  pending_.erase(it);  // unregisters before the fd is registered again below
  Connection& c = add_conn({alloc_local_port(), port}, std::move(fd), ConnState::kConnecting);
  c.need_request = true;
  c.connect_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kConnectTimeoutMs);
  arm_connect_timer();
  mark_rx(c);
}

void Muxer::on_conn_event(ConnKey key, uint32_t events) {
  std::lock_guard lock(mutex_);
  Connection* c = find(key);
  if (!c) return;
  if ((events & EPOLLOUT) && !flush(*c)) return rx_ready_();
  if ((events & EPOLLIN) && !pull(*c)) return rx_ready_();
  if (events & (EPOLLHUP | EPOLLERR)) {
    // The peer is gone. Unwritten bytes can never arrive, and a guest still answering gets nothing.
    if (!c->tx_buf.empty() || c->state != ConnState::kEstablished || (events & EPOLLERR)) {
      kill(key, true);
      return rx_ready_();
    }
    // What it sent before hanging up is still readable: keep pulling it, outside the loop (HUP never clears).
    c->reg.reset();
    c->host_hup = true;
    if (!pull(*c)) return rx_ready_();
  }
  mark_rx(*c);
  update_interest(*c);
  rx_ready_();
}

Connection* Muxer::find(ConnKey key) {
  auto it = conns_.find(key);
  return it == conns_.end() ? nullptr : it->second.get();
}

Connection& Muxer::add_conn(ConnKey key, UniqueFd fd, ConnState state) {
  auto c = std::make_unique<Connection>();
  c->key = key;
  c->state = state;
  c->fd = std::move(fd);
  Connection& ref = *c;
  conns_[key] = std::move(c);
  ++metrics_.conns_added;
  if (loop_) {
    ref.reg = EventRegistration(*loop_, ref.fd.get(), 0, [this, key](uint32_t events) { on_conn_event(key, events); });
  }
  update_interest(ref);
  return ref;
}

void Muxer::kill(ConnKey key, bool send_rst) {
  if (conns_.erase(key) == 0) return;
  // Its rx_list_ entry too: a guest cycling REQUEST/RST on one key with no rx buffers posted would
  // otherwise grow the list without bound.
  std::erase(rx_list_, key);
  ++metrics_.conns_removed;
  if (send_rst) queue_reset(key.local_port, key.peer_port);
}

void Muxer::queue_reset(uint32_t local_port, uint32_t peer_port) {
  if (resets_.size() >= kMaxQueuedResets) {
    ++metrics_.rst_dropped;
    return;
  }
  PacketHeader h;
  h.src_cid = kHostCid;
  h.dst_cid = guest_cid_;
  h.src_port = local_port;
  h.dst_port = peer_port;
  h.type = kTypeStream;
  h.op = kOpRst;
  resets_.push_back(h);
}

void Muxer::mark_rx(Connection& c) {
  if (c.in_rx_list || !c.has_rx_work()) return;
  c.in_rx_list = true;
  rx_list_.push_back(c.key);
}

void Muxer::update_interest(Connection& c) {
  if (!loop_ || c.host_hup) return;  // not (or no longer) in the event loop
  uint32_t events = 0;
  if (c.state == ConnState::kEstablished && !c.host_eof && c.rx_stage.room() > 0 &&
      c.peer_credit() > c.rx_stage.size() && !(c.peer_shutdown & kShutdownRcv)) {
    events |= EPOLLIN;
  }
  if (!c.tx_buf.empty()) events |= EPOLLOUT;
  if (events == c.events) return;
  c.events = events;
  loop_->modify(c.fd.get(), events);
}

bool Muxer::flush(Connection& c) {
  while (!c.tx_buf.empty()) {
    auto chunk = c.tx_buf.front();
    const ssize_t n = ::send(c.fd.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block()) break;
    if (n <= 0) {
      ++metrics_.tx_write_fails;
      kill(c.key, true);
      return false;
    }
    c.tx_buf.pop(static_cast<uint32_t>(n));
    c.fwd_cnt += static_cast<uint32_t>(n);
    metrics_.tx_bytes_count += static_cast<uint64_t>(n);
  }
  after_forward(c);
  if (!c.tx_buf.empty()) return true;
  if (c.closing) {
    kill(c.key, true);
    return false;
  }
  if ((c.peer_shutdown & kShutdownSend) && !c.host_write_shut) {
    ::shutdown(c.fd.get(), SHUT_WR);  // the host peer reads EOF, as the guest half-closed
    c.host_write_shut = true;
  }
  return true;
}

void Muxer::after_forward(Connection& c) {
  // Tell the guest about freed room before it can run dry: any packet carries fwd_cnt, so this only
  // matters when we have nothing else to send.
  if (c.fwd_cnt - c.last_fwd_cnt_sent >= kConnTxBufSize / 2) {
    c.need_credit_update = true;
    mark_rx(c);
  }
  update_interest(c);
}

bool Muxer::write_to_host(Connection& c, std::span<const uint8_t> data) {
  if (data.empty()) return true;
  if (data.size() > c.tx_buf.room()) {  // past the buf_alloc we advertised
    ++metrics_.credit_violations;
    kill(c.key, true);
    return false;
  }
  c.tx_buf.push(data);
  return flush(c);
}

bool Muxer::pull(Connection& c) {
  if (c.state != ConnState::kEstablished || c.host_eof || (c.peer_shutdown & kShutdownRcv)) return true;
  uint8_t buf[16 * 1024];
  for (;;) {
    const uint32_t credit = c.peer_credit();
    const uint32_t allowed = credit > c.rx_stage.size() ? credit - c.rx_stage.size() : 0;
    const uint32_t room = std::min({c.rx_stage.room(), allowed, static_cast<uint32_t>(sizeof buf)});
    if (room == 0) break;
    const ssize_t n = ::recv(c.fd.get(), buf, room, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block()) break;
    if (n < 0) {
      ++metrics_.rx_read_fails;
      kill(c.key, true);
      return false;
    }
    if (n == 0) {
      c.host_eof = true;
      break;
    }
    c.rx_stage.push({buf, static_cast<size_t>(n)});
  }
  mark_rx(c);
  update_interest(c);
  return true;
}

uint32_t Muxer::alloc_local_port() {
  for (;;) {
    const uint32_t port = next_local_port_++;
    if (next_local_port_ == 0) next_local_port_ = kFirstLocalPort;
    bool used = false;
    for (const auto& [key, c] : conns_) used = used || key.local_port == port;
    if (!used) return port;
  }
}

PacketHeader Muxer::header_for(const Connection& c, uint16_t op) const {
  PacketHeader h;
  h.src_cid = kHostCid;
  h.dst_cid = guest_cid_;
  h.src_port = c.key.local_port;
  h.dst_port = c.key.peer_port;
  h.type = kTypeStream;
  h.op = op;
  h.buf_alloc = kConnTxBufSize;
  h.fwd_cnt = c.fwd_cnt;
  return h;
}

// ---- Guest side ----

void Muxer::on_guest_request(const PacketHeader& h) {
  const ConnKey key{h.dst_port, h.src_port};
  if (conns_.size() + pending_.size() >= kMaxConnections || !loop_) {
    ++metrics_.conns_refused;
    return queue_reset(key.local_port, key.peer_port);
  }
  const std::string path = fmt::format("{}_{}", uds_path_, h.dst_port);
  sockaddr_un addr;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  // A Unix connect completes at once or fails (EAGAIN: the listener's backlog is full).
  if (!fd || !make_addr(path, addr) ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ++metrics_.conns_refused;
    return queue_reset(key.local_port, key.peer_port);
  }
  Connection& c = add_conn(key, std::move(fd), ConnState::kEstablished);
  c.peer_buf_alloc = h.buf_alloc;
  c.peer_fwd_cnt = h.fwd_cnt;
  c.need_response = true;
  mark_rx(c);
  update_interest(c);
}

void Muxer::handle_tx(const PacketHeader& h, std::span<const uint8_t> data) {
  ++metrics_.tx_packets_count;
  // Only the guest's own CID toward the host; anything else is not ours to answer (Firecracker drops it).
  if (h.src_cid != guest_cid_ || h.dst_cid != kHostCid) {
    ++metrics_.tx_bad_packets;
    return;
  }
  const ConnKey key{h.dst_port, h.src_port};
  Connection* c = find(key);
  if (h.type != kTypeStream) {
    ++metrics_.tx_bad_packets;
    if (c) return kill(key, true);
    if (h.op != kOpRst) queue_reset(key.local_port, key.peer_port);
    return;
  }
  if (c) {
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
  }
  switch (h.op) {
    case kOpRequest:
      if (c) return kill(key, true);  // a second REQUEST on a live connection
      return on_guest_request(h);
    case kOpRst:
      if (c) kill(key, false);
      return;
    case kOpResponse:
      if (!c) return queue_reset(key.local_port, key.peer_port);
      if (c->state != ConnState::kConnecting) return kill(key, true);
      c->state = ConnState::kEstablished;
      {
        // Ours, not the guest's bytes: sent directly and not counted in fwd_cnt. A fresh socket always
        // has room for it.
        const std::string ok = fmt::format("OK {}\n", key.local_port);
        if (::send(c->fd.get(), ok.data(), ok.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(ok.size())) {
          ++metrics_.tx_write_fails;
          return kill(key, true);
        }
      }
      if (!pull(*c)) return;
      break;
    case kOpRw:
      if (!c) return queue_reset(key.local_port, key.peer_port);
      if (c->state != ConnState::kEstablished || (c->peer_shutdown & kShutdownSend)) return kill(key, true);
      if (!write_to_host(*c, data)) return;
      break;
    case kOpShutdown:
      if (!c) return queue_reset(key.local_port, key.peer_port);
      c->peer_shutdown |= h.flags & kShutdownBoth;
      if (c->peer_shutdown == kShutdownBoth) c->closing = true;  // it waits for our RST (Linux does)
      if (!flush(*c)) return;
      break;
    case kOpCreditUpdate:
      if (!c) return queue_reset(key.local_port, key.peer_port);
      if (!pull(*c)) return;
      break;
    case kOpCreditRequest:
      if (!c) return queue_reset(key.local_port, key.peer_port);
      c->need_credit_update = true;
      break;
    default:
      ++metrics_.tx_bad_packets;
      if (c) return kill(key, true);
      return queue_reset(key.local_port, key.peer_port);
  }
  if ((c = find(key))) {
    mark_rx(*c);
    update_interest(*c);
  }
}

bool Muxer::next_rx(PacketHeader& h, std::vector<uint8_t>& data, uint32_t max_data) {
  data.clear();
  if (!resets_.empty()) {
    h = resets_.front();
    resets_.pop_front();
    ++metrics_.rst_sent;
    return true;
  }
  while (!rx_list_.empty()) {
    const ConnKey key = rx_list_.front();
    rx_list_.pop_front();
    Connection* c = find(key);
    if (!c) continue;
    c->in_rx_list = false;
    if (!c->has_rx_work()) continue;
    if (c->need_request) {
      h = header_for(*c, kOpRequest);
      c->need_request = false;
    } else if (c->need_response) {
      h = header_for(*c, kOpResponse);
      c->need_response = false;
    } else if (c->state == ConnState::kEstablished && !c->rx_stage.empty() && c->peer_credit() > 0 && max_data > 0) {
      const uint32_t n = std::min({c->rx_stage.size(), c->peer_credit(), max_data});
      data.resize(n);
      c->rx_stage.peek(data);
      c->rx_stage.pop(n);
      c->rx_cnt += n;
      metrics_.rx_bytes_count += n;
      h = header_for(*c, kOpRw);
      h.len = n;
    } else if (c->state == ConnState::kEstablished && c->host_eof && c->rx_stage.empty() && !c->shutdown_sent) {
      h = header_for(*c, kOpShutdown);
      h.flags = kShutdownSend;  // the host peer will send no more; it may still read
      c->shutdown_sent = true;
    } else {
      h = header_for(*c, kOpCreditUpdate);
    }
    c->need_credit_update = false;  // every packet carries our fwd_cnt
    c->last_fwd_cnt_sent = c->fwd_cnt;
    if (!pull(*c)) return true;  // room freed in rx_stage (killed: its RST is queued after this)
    mark_rx(*c);
    return true;
  }
  return false;
}

}  // namespace hearth::virtio::vsock
