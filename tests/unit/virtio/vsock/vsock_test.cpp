// virtio-vsock device: config space, the hybrid-model handshakes both ways, data, credit-based flow
// control, shutdown, RSTs, malformed packets and the transport reset after a restore.
#include <sys/socket.h>

#include <fcntl.h>

#include <string>
#include <vector>

#include "tests/unit/virtio/vsock/vsock_harness.h"
#include "vmm/base/error.h"
#include "vmm/metrics/registry.h"

namespace hearth::virtio::vsock::test {
namespace {

using Vsock = VsockHarness;

TEST_F(Vsock, ConfigSpaceHoldsTheGuestCidAndThreeQueues) {
  EXPECT_EQ(reg(mmio::kRegDeviceId), kDeviceIdVsock);
  EXPECT_EQ(reg(mmio::kConfigSpace), kGuestCid);
  EXPECT_EQ(reg(mmio::kConfigSpace + 4), 0u);
  EXPECT_EQ(dev->queue_max_sizes().size(), 3u);
  set_reg(mmio::kConfigSpace, 77);  // read-only
  EXPECT_EQ(reg(mmio::kConfigSpace), kGuestCid);
}

// Host-initiated: CONNECT <port> -> REQUEST, RESPONSE -> "OK <local>", then data both ways.
class VsockHost : public Vsock {
 protected:
  void SetUp() override {
    bring_up();
    post_rx(64);
    host = unix_connect(uds_);
    ASSERT_TRUE(host);
    ASSERT_EQ(::send(host.get(), "CONNECT 52\n", 11, 0), 11);
    auto req = wait_rx();
    ASSERT_TRUE(req);
    EXPECT_EQ(req->h.op, kOpRequest);
    EXPECT_EQ(req->h.src_cid, kHostCid);
    EXPECT_EQ(req->h.dst_cid, kGuestCid);
    EXPECT_EQ(req->h.dst_port, 52u);
    EXPECT_EQ(req->h.type, kTypeStream);
    EXPECT_EQ(req->h.buf_alloc, kConnTxBufSize);
    local = req->h.src_port;
    EXPECT_GE(local, kFirstLocalPort);
  }
  void accept(uint32_t buf_alloc = 1 << 20) {
    send(kOpResponse, 52, local, {}, 0, buf_alloc);
    run_loop();
    EXPECT_EQ(read_some(host.get()), "OK " + std::to_string(local) + "\n");
  }
  UniqueFd host;
  uint32_t local = 0;
};

TEST_F(VsockHost, HandshakeThenDataBothWays) {
  accept();
  ASSERT_EQ(::send(host.get(), "hello", 5, 0), 5);
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRw);
  EXPECT_EQ(str(p->data), "hello");
  EXPECT_EQ(p->h.len, 5u);
  send_str(kOpRw, 52, local, "world");
  run_loop();
  EXPECT_EQ(read_some(host.get()), "world");
  EXPECT_EQ(dev->metrics().conns_added, 1u);
  EXPECT_EQ(dev->metrics().rx_bytes_count, 5u);
  EXPECT_EQ(dev->metrics().tx_bytes_count, 5u);
}

TEST_F(VsockHost, BytesSentBeforeOkReachTheGuestAfterIt) {
  ASSERT_EQ(::send(host.get(), "early", 5, 0), 5);
  run_loop();
  EXPECT_FALSE(take_rx());  // nothing flows before the guest accepted
  accept();
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(str(p->data), "early");
}

TEST_F(VsockHost, GuestRstClosesTheHostSocket) {
  send(kOpRst, 52, local);
  run_loop();
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);  // EOF, no "OK"
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
}

TEST_F(VsockHost, RequestTheGuestNeverAnswersIsResetAfterTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<Packet> p;
  while (!p && std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(3 * kConnectTimeoutMs)) {
    loop.run_once(50);
    p = take_rx();
  }
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRst);
  EXPECT_EQ(p->h.src_port, local);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(kConnectTimeoutMs - 100));
  EXPECT_EQ(dev->metrics().connect_timeouts, 1u);
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);  // closed without an "OK"
  // A late RESPONSE finds no connection: it gets an RST too.
  send(kOpResponse, 52, local);
  p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRst);
}

TEST_F(VsockHost, GuestCreditLimitsWhatIsRead) {
  accept(4096);  // the guest can hold 4 KiB
  std::vector<uint8_t> big(10000, 'x');
  ASSERT_EQ(::send(host.get(), big.data(), big.size(), 0), 10000);
  uint32_t got = 0;
  while (auto p = wait_rx()) {
    if (p->h.op == kOpRw) got += p->h.len;
    if (got >= 4096) break;
  }
  run_loop();
  while (auto p = take_rx()) got += p->h.op == kOpRw ? p->h.len : 0;
  EXPECT_EQ(got, 4096u);
  EXPECT_LE(dev->muxer().buffered_bytes(), 4096u);  // read ahead only within the credit
  // The guest consumed it all: the rest follows.
  send(kOpCreditUpdate, 52, local, {}, 0, 4096, 4096);
  while (got < 8192) {
    auto p = wait_rx();
    ASSERT_TRUE(p);
    got += p->h.op == kOpRw ? p->h.len : 0;
  }
  EXPECT_EQ(got, 8192u);
}

TEST_F(VsockHost, HostEofBecomesShutdownSendAndGuestFullShutdownGetsRst) {
  accept();
  ASSERT_EQ(::send(host.get(), "bye", 3, 0), 3);
  ::shutdown(host.get(), SHUT_WR);
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(str(p->data), "bye");
  p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpShutdown);
  EXPECT_EQ(p->h.flags, kShutdownSend);
  // The guest can still answer, then closes.
  send_str(kOpRw, 52, local, "ack");
  send(kOpShutdown, 52, local, {}, kShutdownBoth);
  p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRst);
  run_loop();
  EXPECT_EQ(read_some(host.get()), "ack");
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
}

TEST_F(VsockHost, GuestShutdownSendHalfClosesTheHostSocket) {
  accept();
  send_str(kOpRw, 52, local, "last");
  send(kOpShutdown, 52, local, {}, kShutdownSend);
  run_loop();
  EXPECT_EQ(read_some(host.get()), "last");
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);  // EOF on the read side
  ASSERT_EQ(::send(host.get(), "still", 5, 0), 5);  // while the other way stays open
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(str(p->data), "still");
}

TEST_F(VsockHost, HostPeerThatStopsReadingHoldsTheGuestAtItsCredit) {
  accept();
  // Shrink the host socket's buffers so the stall comes early.
  int small = 4096;
  ::setsockopt(host.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::vector<uint8_t> chunk(16384, 'z');
  uint32_t sent = 0;
  // A well-behaved guest sends only while its credit (buf_alloc - (sent - fwd_cnt)) lasts.
  uint32_t fwd = 0;
  for (int i = 0; i < 200; ++i) {
    run_loop(1);
    while (auto p = take_rx()) fwd = p->h.fwd_cnt;
    const uint32_t credit = kConnTxBufSize - (sent - fwd);
    if (credit < chunk.size()) continue;
    send(kOpRw, 52, local, chunk);
    sent += chunk.size();
  }
  EXPECT_LE(dev->muxer().buffered_bytes(), kConnTxBufSize);
  EXPECT_GT(sent - fwd, 0u);  // it did stall
  EXPECT_EQ(dev->metrics().credit_violations, 0u);
  EXPECT_EQ(dev->muxer().connection_count(), 1u);
  // The host reads again: every byte arrives, in order.
  uint64_t got = 0;
  for (int i = 0; i < 2000 && got < sent; ++i) {
    got += read_some(host.get()).size();
    run_loop(1);
    while (auto p = take_rx()) fwd = p->h.fwd_cnt;
    const uint32_t credit = kConnTxBufSize - (sent - fwd);
    if (credit >= chunk.size() && sent < 1'000'000) {
      send(kOpRw, 52, local, chunk);
      sent += chunk.size();
    }
  }
  EXPECT_EQ(got, sent);
}

TEST_F(VsockHost, GuestThatIgnoresCreditIsReset) {
  accept();
  int small = 4096;
  ::setsockopt(host.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::vector<uint8_t> chunk(kMaxPacketData, 'q');
  for (int i = 0; i < 64 && dev->muxer().connection_count() == 1; ++i) send(kOpRw, 52, local, chunk);
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
  EXPECT_EQ(dev->metrics().credit_violations, 1u);
  bool rst = false;
  while (auto p = take_rx()) rst = rst || p->h.op == kOpRst;
  EXPECT_TRUE(rst);
}

TEST_F(Vsock, GuestConnectsToHostPortListener) {
  bring_up();
  post_rx(16);
  UniqueFd listener = unix_listen(uds_ + "_1234");
  ASSERT_TRUE(listener);
  send(kOpRequest, 5000, 1234);
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpResponse);
  EXPECT_EQ(p->h.src_port, 1234u);
  EXPECT_EQ(p->h.dst_port, 5000u);
  UniqueFd peer(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(peer);
  send_str(kOpRw, 5000, 1234, "ping");
  run_loop();
  EXPECT_EQ(read_some(peer.get()), "ping");
  ASSERT_EQ(::send(peer.get(), "pong", 4, 0), 4);
  p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(str(p->data), "pong");
  // The host peer closes: the guest gets SHUTDOWN, then its RST ends it.
  peer.reset();
  p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpShutdown);
  send(kOpRst, 5000, 1234);
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
}

TEST_F(Vsock, GuestCyclingConnectionsWithoutRxBuffersHoldsBoundedState) {
  bring_up();  // no rx buffers: nothing the device owes the guest can be delivered
  UniqueFd listener = unix_listen(uds_ + "_77");
  ASSERT_TRUE(listener);
  ::fcntl(listener.get(), F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 3000; ++i) {
    send(kOpRequest, 9, 77);
    send(kOpRst, 9, 77);
    // The host side's accept queue fills; drain it as a real listener would.
    if (i % 8 == 0) {
      while (UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC))) {
      }
    }
  }
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
  EXPECT_LE(dev->muxer().rx_backlog(), kMaxQueuedResets);
  // Unknown-connection packets only ever queue up to kMaxQueuedResets RSTs.
  for (size_t i = 0; i < kMaxQueuedResets + 100; ++i) send(kOpCreditUpdate, 10, 78);
  EXPECT_LE(dev->muxer().rx_backlog(), kMaxQueuedResets);
  EXPECT_GE(dev->metrics().rst_dropped, 100u);
}

TEST_F(Vsock, GuestConnectToPortNobodyListensOnGetsRst) {
  bring_up();
  post_rx(4);
  send(kOpRequest, 5000, 999);
  auto p = wait_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRst);
  EXPECT_EQ(p->h.src_port, 999u);
  EXPECT_EQ(p->h.dst_port, 5000u);
  EXPECT_EQ(dev->metrics().conns_refused, 1u);
}

TEST_F(Vsock, PacketsForUnknownConnectionsGetRst) {
  bring_up();
  post_rx(8);
  send_str(kOpRw, 1, 2, "x");
  send(kOpCreditUpdate, 1, 3);
  send(kOpRst, 1, 4);  // never answered
  int rst = 0;
  while (auto p = wait_rx()) rst += p->h.op == kOpRst;
  EXPECT_EQ(rst, 2);
}

TEST_F(Vsock, MalformedPacketsAreDroppedAndCounted) {
  bring_up();
  post_rx(8);
  PacketHeader h;
  h.src_cid = kGuestCid;
  h.dst_cid = kHostCid;
  h.type = kTypeStream;
  h.op = kOpRw;
  h.len = 100;  // claims more than the buffer holds
  send_raw(h, {});
  h.len = kMaxPacketData + 1;
  send_raw(h, {}, kHeaderSize + kMaxPacketData + 1);
  send_raw(h, {}, 10);  // shorter than a header
  h.len = 0;
  h.src_cid = 7;  // not the guest's CID
  send_raw(h, {});
  EXPECT_EQ(dev->metrics().tx_bad_packets, 4u);
  EXPECT_EQ(rings[1].used_idx(), 4);  // every chain is still returned
  run_loop();
  EXPECT_FALSE(take_rx());
}

TEST_F(Vsock, RxBufferTooSmallForAHeaderIsReturnedEmpty) {
  bring_up();
  post_rx(1, 20);
  send(kOpRequest, 5000, 999);
  ASSERT_EQ(rings[0].used_idx(), 1);
  EXPECT_EQ(rings[0].used(0).len, 0u);
  EXPECT_EQ(dev->metrics().rx_bad_buffers, 1u);
  post_rx(1);  // the RST still comes
  auto p = take_rx();
  ASSERT_TRUE(p);
  p = take_rx();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, kOpRst);
}

TEST_F(Vsock, BadConnectLinesAreClosed) {
  bring_up();
  for (std::string line : std::vector<std::string>{"CONNECT x\n", "HELLO 5\n", "CONNECT 99999999999\n", std::string(40, 'C')}) {
    UniqueFd host = unix_connect(uds_);
    ASSERT_TRUE(host);
    ASSERT_EQ(::send(host.get(), line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
    run_loop();
    char c;
    // Closed with our unread bytes still queued: the peer sees a reset rather than a clean EOF.
    const ssize_t n = ::recv(host.get(), &c, 1, 0);
    EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << line;
  }
  EXPECT_EQ(dev->metrics().bad_connect_lines, 4u);
  EXPECT_EQ(dev->muxer().pending_connect_count(), 0u);
}

TEST_F(Vsock, HostConnectionBeforeDriverOkIsClosed) {
  UniqueFd host = unix_connect(uds_);
  ASSERT_TRUE(host);
  run_loop();
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);
}

TEST_F(Vsock, DriverResetClosesEveryConnection) {
  bring_up();
  post_rx(4);
  UniqueFd host = unix_connect(uds_);
  ASSERT_EQ(::send(host.get(), "CONNECT 1\n", 10, 0), 10);
  ASSERT_TRUE(wait_rx());
  EXPECT_EQ(dev->muxer().connection_count(), 1u);
  set_reg(mmio::kRegStatus, 0);
  EXPECT_EQ(dev->muxer().connection_count(), 0u);
  char c;
  EXPECT_EQ(::recv(host.get(), &c, 1, 0), 0);
}

TEST_F(Vsock, RestoreSendsTransportResetOnTheEventQueue) {
  bring_up();
  rings[2].set_desc(0, kEvBase, 4, kDescFlagWrite);
  rings[2].push_avail(0);
  kick(kEventQueue);
  EXPECT_EQ(rings[2].used_idx(), 0);  // nothing to report yet
  const DeviceState saved = dev->save();
  const auto t = transport->save();
  // A fresh device (new process) takes the state; the path is free again once the old one is gone.
  make_device();
  dev->restore(saved);
  transport->restore(t);
  ASSERT_TRUE(dev->activated());
  ASSERT_EQ(rings[2].used_idx(), 1);
  EXPECT_EQ(rings[2].used(0).len, 4u);
  EXPECT_EQ(mem.read_obj<uint32_t>(kEvBase), kEventTransportReset);
  EXPECT_EQ(dev->metrics().transport_reset_events, 1u);
}

TEST_F(Vsock, RestoreRefusesAnotherVersionOrCid) {
  DeviceState s = dev->save();
  s.version = 2;
  EXPECT_THROW(dev->restore(s), Error);
  s = dev->save();
  s.data["guest_cid"] = 9;
  EXPECT_THROW(dev->restore(s), Error);
}

TEST_F(Vsock, MetricsAreExported) {
  bring_up();
  metrics::Registry registry;
  dev->export_metrics(registry, "vsock.");
  EXPECT_NE(registry.render_prometheus().find("activate_count"), std::string::npos);
}

}  // namespace
}  // namespace hearth::virtio::vsock::test
