#pragma once
// The host side of the hybrid vsock model (Firecracker's): a listening Unix socket at uds_path where a
// host peer writes "CONNECT <port>\n" to reach guest port <port> (answered "OK <local_port>\n" once the
// guest accepts), and guest connections to host port P, forwarded to the Unix socket "<uds_path>_P".
// It keeps the connection table, applies the guest's packets, and produces the packets the guest is owed.
// Nothing here touches guest memory: the device copies headers and payloads in and out.
//
// Threading: every entry point runs with the device mutex held. The muxer's own event-loop handlers take
// that mutex, then call `rx_ready` (still holding it) so the device can fill rx buffers.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "virtio/event_registration.h"
#include "virtio/vsock/connection.h"
#include "virtio/vsock/defs.h"
#include "virtio/vsock/metrics.h"
#include "vmm/base/event_loop.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::vsock {

class Muxer {
 public:
  // Binds and listens on `uds_path` (a stale socket file there is replaced; anything else throws Error).
  // `loop` may be null (fuzzing): then no host socket is ever watched.
  Muxer(uint64_t guest_cid, std::string uds_path, EventLoop* loop, std::mutex& mutex, VsockMetrics& metrics,
        std::function<void()> rx_ready);
  ~Muxer();
  Muxer(const Muxer&) = delete;
  Muxer& operator=(const Muxer&) = delete;

  // Whether the driver is up: host connections are refused (closed) while it is not.
  void set_active(bool active);
  // Drops every connection and pending packet (driver reset, snapshot restore): host sockets are closed.
  void reset_all();

  // One packet from the guest; `data` is its payload (header.len bytes, already bounds-checked).
  void handle_tx(const PacketHeader& header, std::span<const uint8_t> data);
  // Fills the next packet owed to the guest with at most `max_data` payload bytes; false if none.
  bool next_rx(PacketHeader& header, std::vector<uint8_t>& data, uint32_t max_data);
  bool has_rx() const { return !resets_.empty() || !rx_list_.empty(); }

  size_t connection_count() const { return conns_.size(); }
  // Packets owed to the guest that wait for rx buffers (for tests of the bounds).
  size_t rx_backlog() const { return rx_list_.size() + resets_.size(); }
  size_t pending_connect_count() const { return pending_.size(); }
  // Bytes held for host peers and for the guest, over all connections (for tests of the bounds).
  uint64_t buffered_bytes() const;
  const std::string& uds_path() const { return uds_path_; }

 private:
  struct PendingConnect {
    UniqueFd fd;
    EventRegistration reg;
  };

  void on_listener();
  void on_pending(int fd);
  void on_conn_event(ConnKey key, uint32_t events);
  // Resets host-initiated connections the guest left unanswered past their deadline; re-arms the timer.
  void on_connect_timer();
  void arm_connect_timer();

  Connection* find(ConnKey key);
  Connection& add_conn(ConnKey key, UniqueFd fd, ConnState state);
  // Removes the connection (closing its host socket); with `send_rst` the guest is told.
  void kill(ConnKey key, bool send_rst);
  void queue_reset(uint32_t local_port, uint32_t peer_port);
  void mark_rx(Connection& c);
  void update_interest(Connection& c);
  // Moves tx_buf into the host socket; false if the connection was killed.
  bool flush(Connection& c);
  // Reads the host socket into rx_stage as far as room and the guest's credit allow; false if killed.
  bool pull(Connection& c);
  // Writes guest bytes toward the host socket (directly when nothing is held); false if killed.
  bool write_to_host(Connection& c, std::span<const uint8_t> data);
  void after_forward(Connection& c);
  void on_guest_request(const PacketHeader& h);
  uint32_t alloc_local_port();
  PacketHeader header_for(const Connection& c, uint16_t op) const;

  uint64_t guest_cid_;
  std::string uds_path_;
  EventLoop* loop_;
  std::mutex& mutex_;
  VsockMetrics& metrics_;
  std::function<void()> rx_ready_;
  bool active_ = false;

  UniqueFd listener_;
  EventRegistration listener_reg_;
  UniqueFd connect_timer_;  // timerfd, armed while a host-initiated connection waits for the guest
  EventRegistration connect_timer_reg_;
  bool connect_timer_armed_ = false;
  std::unordered_map<int, std::unique_ptr<PendingConnect>> pending_;
  std::unordered_map<ConnKey, std::unique_ptr<Connection>, ConnKeyHash> conns_;
  std::deque<ConnKey> rx_list_;  // connections with packets due, served round robin
  std::deque<PacketHeader> resets_;  // RSTs owed for connections that no longer exist
  uint32_t next_local_port_ = kFirstLocalPort;
};

// Binds a listening Unix socket at `path`, replacing a stale socket file (one nobody accepts on).
// Throws Error("<path>: ...") if the path is in use (a live socket, or any other file) or cannot be bound.
UniqueFd listen_unix(const std::string& path);
// Throws Error unless listen_unix(path) would succeed, without binding: the PUT-time check.
void check_uds_path_free(const std::string& path);

}  // namespace hearth::virtio::vsock
