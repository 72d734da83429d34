#include "virtio/net/mmds/stack.h"

#include <gtest/gtest.h>

#include "tests/unit/virtio/mmds/fake_guest.h"
#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds/tcp.h"

namespace hearth::virtio::net::mmds {
namespace {

using namespace std::chrono_literals;
using namespace testing;
using nlohmann::json;
namespace f = tcp_flags;

constexpr uint32_t kIss = 1000;

class MmdsStack : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_shared<Service>();
    MmdsConfig config;
    config.network_interfaces = {"eth0"};
    service_->set_config(config);
    service_->put(json::parse(R"({"latest":{"meta-data":{"id":"i-1234"}},"big":")" + std::string(5000, 'z') + R"("})"));
    stack_ = service_->make_stack("eth0", kGuestMac);
    ASSERT_NE(stack_, nullptr);
  }

  bool send(const Seg& s) { return stack_->handle_guest_frame(tcp_frame(s), now_); }

  std::vector<Got> drain() {
    std::vector<Got> out;
    while (stack_->has_frame()) {
      auto g = parse_tcp_out(stack_->pop_frame());
      EXPECT_TRUE(g.has_value());
      if (g) out.push_back(*g);
    }
    return out;
  }

  // SYN, SYN-ACK, ACK; returns our next sequence number and the stack's ISN + 1.
  std::pair<uint32_t, uint32_t> connect(uint16_t port = 40000, uint16_t mss = 1460, uint16_t window = 65535) {
    EXPECT_TRUE(send({.sport = port, .seq = kIss, .flags = f::kSyn, .window = window, .mss = mss}));
    auto got = drain();
    EXPECT_EQ(got.size(), 1u);
    if (got.empty()) return {};
    EXPECT_EQ(got[0].flags, f::kSyn | f::kAck);
    EXPECT_EQ(got[0].ack, kIss + 1);
    EXPECT_EQ(got[0].sport, 80);
    EXPECT_EQ(got[0].dport, port);
    EXPECT_EQ(got[0].mss, TcpEndpoint::kOurMss);
    const uint32_t server = got[0].seq + 1;
    EXPECT_TRUE(send({.sport = port, .seq = kIss + 1, .ack = server, .flags = f::kAck, .window = window}));
    EXPECT_TRUE(drain().empty());  // a bare ACK is not answered
    return {kIss + 1, server};
  }

  std::shared_ptr<Service> service_;
  std::unique_ptr<Stack> stack_;
  Clock::time_point now_ = Clock::time_point{} + 1000s;
};

TEST_F(MmdsStack, AnswersArpForTheMmdsAddressOnly) {
  ASSERT_TRUE(stack_->handle_guest_frame(arp_request(kMmdsIp), now_));
  ASSERT_TRUE(stack_->has_frame());
  auto reply = stack_->pop_frame();
  ASSERT_EQ(reply.size(), 42u);
  EXPECT_TRUE(std::equal(kGuestMac.begin(), kGuestMac.end(), reply.begin()));
  EXPECT_EQ(rd16(reply, 12), 0x0806);
  EXPECT_EQ(rd16(reply, 20), 2);  // reply
  EXPECT_TRUE(std::equal(stack_->mmds_mac().begin(), stack_->mmds_mac().end(), reply.begin() + 22));
  EXPECT_TRUE(std::equal(kMmdsIp.begin(), kMmdsIp.end(), reply.begin() + 28));
  EXPECT_TRUE(std::equal(kGuestMac.begin(), kGuestMac.end(), reply.begin() + 32));
  EXPECT_TRUE(std::equal(kGuestIp.begin(), kGuestIp.end(), reply.begin() + 38));

  EXPECT_FALSE(stack_->handle_guest_frame(arp_request({10, 0, 0, 1}), now_));
  EXPECT_FALSE(stack_->handle_guest_frame(arp_request(kMmdsIp, 2), now_));  // a reply is not ours
  EXPECT_FALSE(stack_->has_frame());
}

TEST_F(MmdsStack, OtherTrafficGoesToTheTap) {
  EXPECT_FALSE(send({.seq = 1, .flags = f::kSyn, .dst = {10, 0, 0, 1}}));
  EXPECT_FALSE(stack_->handle_guest_frame({}, now_));
  std::vector<uint8_t> ipv6(60, 0);
  wr16(ipv6, 12, 0x86dd);
  EXPECT_FALSE(stack_->handle_guest_frame(ipv6, now_));
  EXPECT_FALSE(stack_->has_frame());
}

TEST_F(MmdsStack, GetOverTcpThenClose) {
  auto [seq, server] = connect();
  const std::string request = "GET /latest/meta-data/id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck | f::kPsh, .payload = request}));
  seq += uint32_t(request.size());
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, server);
  EXPECT_EQ(got[0].ack, seq);
  EXPECT_NE(got[0].payload.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
  EXPECT_TRUE(got[0].payload.ends_with("\r\n\r\ni-1234"));
  server += uint32_t(got[0].payload.size());
  // The guest acknowledges and closes; the stack acknowledges the FIN and closes too.
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck | f::kFin}));
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].flags, f::kFin | f::kAck);
  EXPECT_EQ(got[0].ack, seq + 1);
  EXPECT_EQ(got[0].seq, server);
  EXPECT_EQ(stack_->connection_count(), 1u);
  EXPECT_TRUE(send({.seq = seq + 1, .ack = server + 1, .flags = f::kAck}));
  EXPECT_EQ(stack_->connection_count(), 0u);
  EXPECT_FALSE(stack_->next_deadline().has_value());
}

TEST_F(MmdsStack, RequestSplitAcrossSegmentsAndConnectionClose) {
  auto [seq, server] = connect();
  const std::string a = "GET /latest/meta-data/id HT", b = "TP/1.1\r\nConnection: close\r\n\r\n";
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = a}));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);  // just the ACK
  EXPECT_EQ(got[0].ack, seq + a.size());
  EXPECT_TRUE(got[0].payload.empty());
  EXPECT_TRUE(send({.seq = seq + uint32_t(a.size()), .ack = server, .flags = f::kAck, .payload = b}));
  got = drain();
  ASSERT_EQ(got.size(), 2u);  // the response, then our FIN (Connection: close)
  EXPECT_NE(got[0].payload.find("Connection: close"), std::string::npos);
  EXPECT_EQ(got[1].flags, f::kFin | f::kAck);
  EXPECT_EQ(got[1].seq, server + got[0].payload.size());
}

TEST_F(MmdsStack, OutOfOrderDataIsNotDelivered) {
  auto [seq, server] = connect();
  EXPECT_TRUE(send({.seq = seq + 5, .ack = server, .flags = f::kAck, .payload = "GET / HTTP/1.1\r\n\r\n"}));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].ack, seq);  // duplicate ACK: still waiting for `seq`
  EXPECT_TRUE(got[0].payload.empty());
  // A retransmission overlapping bytes already received is trimmed.
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = "GET /lat"}));
  drain();
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = "GET /latest HTTP/1.1\r\n\r\n"}));
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload.ends_with("\r\n\r\nmeta-data/"));
}

TEST_F(MmdsStack, RespectsMssAndWindowAndRetransmits) {
  auto [seq, server] = connect(40000, 100, 300);
  const std::string request = "GET /big HTTP/1.1\r\n\r\n";
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .window = 300, .payload = request}));
  seq += uint32_t(request.size());
  auto got = drain();
  ASSERT_EQ(got.size(), 3u);  // 3 x 100 bytes fill the 300-byte window
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].payload.size(), 100u);
    EXPECT_EQ(got[i].seq, server + 100 * i);
  }
  // Nothing acknowledged: the oldest segment comes again when the timer fires, not before.
  auto deadline = stack_->next_deadline();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_LE(*deadline, now_ + TcpEndpoint::kInitialRto);
  stack_->poll(*deadline - 1ms);
  EXPECT_FALSE(stack_->has_frame());
  stack_->poll(*deadline);
  got = drain();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].seq, server);
  EXPECT_EQ(got[0].payload.size(), 100u);

  // Acknowledge progressively with a wide window and collect the whole body.
  std::string body;
  uint32_t acked = server;
  std::map<uint32_t, std::string> segments;
  for (auto& g : got) segments[g.seq] = g.payload;
  for (int rounds = 0; rounds < 200; ++rounds) {
    while (segments.count(acked)) {
      body += segments[acked];
      acked += uint32_t(segments[acked].size());
    }
    EXPECT_TRUE(send({.seq = seq, .ack = acked, .flags = f::kAck, .window = 4000}));
    got = drain();
    if (got.empty()) break;
    for (auto& g : got) {
      EXPECT_LE(g.payload.size(), 100u);
      segments[g.seq] = g.payload;
    }
  }
  EXPECT_TRUE(body.ends_with("\r\n\r\n" + std::string(5000, 'z')));
  EXPECT_EQ(stack_->connection_count(), 1u);  // keep-alive
}

TEST_F(MmdsStack, GivesUpAfterRetransmissionsWithReset) {
  auto [seq, server] = connect();
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = "GET /big HTTP/1.1\r\n\r\n"}));
  drain();
  bool reset = false;
  for (int i = 0; i < 20 && stack_->connection_count(); ++i) {
    auto deadline = stack_->next_deadline();
    ASSERT_TRUE(deadline.has_value());
    now_ = *deadline;
    stack_->poll(now_);
    for (auto& g : drain()) reset |= (g.flags & f::kRst) != 0;
  }
  EXPECT_TRUE(reset);
  EXPECT_EQ(stack_->connection_count(), 0u);
}

TEST_F(MmdsStack, SynAckRetransmittedThenForgotten) {
  EXPECT_TRUE(send({.seq = kIss, .flags = f::kSyn}));
  auto first = drain();
  ASSERT_EQ(first.size(), 1u);
  // A retransmitted SYN gets the same SYN-ACK.
  EXPECT_TRUE(send({.seq = kIss, .flags = f::kSyn}));
  auto again = drain();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, first[0].seq);
  now_ = *stack_->next_deadline();
  stack_->poll(now_);
  again = drain();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].flags, f::kSyn | f::kAck);
  EXPECT_EQ(again[0].seq, first[0].seq);
  for (int i = 0; i < 20 && stack_->connection_count(); ++i) {
    now_ = *stack_->next_deadline();
    stack_->poll(now_);
    drain();
  }
  EXPECT_EQ(stack_->connection_count(), 0u);
}

TEST_F(MmdsStack, ResetsForOtherPortsAndStraySegments) {
  EXPECT_TRUE(send({.dport = 81, .seq = 5, .flags = f::kSyn}));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].flags, f::kRst | f::kAck);
  EXPECT_EQ(got[0].ack, 6u);
  EXPECT_TRUE(send({.seq = 5, .ack = 777, .flags = f::kAck, .payload = "x"}));
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].flags, f::kRst);
  EXPECT_EQ(got[0].seq, 777u);
  EXPECT_TRUE(send({.seq = 5, .flags = f::kRst}));  // a reset is never answered
  EXPECT_FALSE(stack_->has_frame());
  EXPECT_EQ(stack_->stats().resets_sent, 2u);
}

TEST_F(MmdsStack, GuestResetDropsTheConnection) {
  auto [seq, server] = connect();
  EXPECT_TRUE(send({.seq = seq + 100000, .flags = f::kRst}));  // outside the window: ignored
  EXPECT_EQ(stack_->connection_count(), 1u);
  EXPECT_TRUE(send({.seq = seq, .flags = f::kRst}));
  EXPECT_EQ(stack_->connection_count(), 0u);
  EXPECT_FALSE(stack_->has_frame());
}

TEST_F(MmdsStack, MalformedHttpGets400AndClose) {
  auto [seq, server] = connect();
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = "BLAH\r\n\r\n"}));
  auto got = drain();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].payload.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_EQ(got[1].flags, f::kFin | f::kAck);
}

TEST_F(MmdsStack, OversizedRequestIsBoundedBy400) {
  auto [seq, server] = connect();
  std::string junk(1000, 'a');
  uint32_t next = seq;
  int responses = 0;
  bool fin = false;
  for (int i = 0; i < 20 && next != seq + 10000u; ++i) {
    send({.seq = next, .ack = server, .flags = f::kAck, .payload = junk.substr(0, seq + 10000u - next)});
    for (auto& g : drain()) {
      EXPECT_LE(g.window, HttpRequestParser::kMaxRequestBytes);  // what the stack will hold
      next = g.ack;
      if (!g.payload.empty()) {
        ++responses;
        EXPECT_TRUE(g.payload.starts_with("HTTP/1.1 400")) << g.payload;
      }
      fin |= (g.flags & f::kFin) != 0;
    }
  }
  EXPECT_EQ(responses, 1);
  EXPECT_TRUE(fin);
  // Past the 400 the rest is taken and discarded, so the sender is not stuck on a closed window.
  EXPECT_EQ(next, seq + 10000u);
}

TEST_F(MmdsStack, HalfOpenFloodIsBoundedAndARealClientStillGetsIn) {
  for (uint16_t port = 1000; port < 3000; ++port) {
    EXPECT_TRUE(send({.sport = port, .seq = port, .flags = f::kSyn}));
    if (port % 50 == 0) drain();
    EXPECT_LE(stack_->connection_count(), TcpEndpoint::kMaxConnections);
    EXPECT_LE(stack_->pop_frame().size() + 0, 100u);  // pops one; the queue never holds more than its bound
  }
  drain();
  EXPECT_GT(stack_->stats().connections_refused, 1900u);
  auto [seq, server] = connect(50000);
  EXPECT_TRUE(send({.sport = 50000, .seq = seq, .ack = server, .flags = f::kAck, .payload = "GET /latest/meta-data/id HTTP/1.1\r\n\r\n"}));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload.ends_with("i-1234"));
}

TEST_F(MmdsStack, FrameQueueIsBounded) {
  for (int i = 0; i < 500; ++i) stack_->handle_guest_frame(arp_request(kMmdsIp), now_);
  size_t n = 0;
  while (stack_->has_frame()) {
    stack_->pop_frame();
    ++n;
  }
  EXPECT_EQ(n, Stack::kMaxQueuedFrames);
  EXPECT_EQ(stack_->stats().queue_overflows, 500 - Stack::kMaxQueuedFrames);
}

TEST_F(MmdsStack, MalformedFramesForMmdsAreConsumedAndDropped) {
  auto good = tcp_frame({.seq = 1, .flags = f::kSyn});
  auto bad_tcp_sum = good;
  bad_tcp_sum.back() ^= 1;  // not possible with no payload: flip the window instead
  bad_tcp_sum[34 + 14] ^= 0x40;
  EXPECT_TRUE(stack_->handle_guest_frame(bad_tcp_sum, now_));
  auto bad_ip_sum = good;
  bad_ip_sum[14 + 8] = 1;  // TTL change without a new header checksum
  EXPECT_TRUE(stack_->handle_guest_frame(bad_ip_sum, now_));
  auto truncated = good;
  truncated.resize(40);
  EXPECT_TRUE(stack_->handle_guest_frame(truncated, now_));
  auto fragment = good;
  fragment[14 + 6] = 0x20;  // MF
  EXPECT_TRUE(stack_->handle_guest_frame(fragment, now_));
  EXPECT_FALSE(stack_->has_frame());
  EXPECT_EQ(stack_->stats().frames_dropped, 4u);
  EXPECT_EQ(stack_->connection_count(), 0u);
  // A Linux-style partial checksum (the pseudo-header sum, as offload leaves it) is taken.
  auto partial = good;
  uint64_t pseudo = inet_sum(&partial[26], 8) + 6 + (partial.size() - 34);
  wr16(partial, 34 + 16, inet_sum(nullptr, 0, pseudo));
  EXPECT_TRUE(stack_->handle_guest_frame(partial, now_));
  EXPECT_TRUE(stack_->has_frame());
  EXPECT_EQ(stack_->stats().frames_dropped, 4u);
  drain();
  // With checksum offload the TCP checksum is left partial and not checked.
  EXPECT_TRUE(send({.seq = 2, .flags = f::kRst}));  // the partial one's connection goes
  EXPECT_EQ(stack_->connection_count(), 0u);
  EXPECT_TRUE(stack_->handle_guest_frame(bad_tcp_sum, now_, true));
  EXPECT_TRUE(stack_->has_frame());
}

TEST_F(MmdsStack, IdleConnectionsExpire) {
  connect();
  auto deadline = stack_->next_deadline();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(*deadline, now_ + TcpEndpoint::kIdleTimeout);
  stack_->poll(*deadline);
  EXPECT_EQ(stack_->connection_count(), 0u);
}

TEST_F(MmdsStack, PatchedStoreIsSeenByTheNextRequest) {
  auto [seq, server] = connect();
  service_->patch(json::parse(R"({"latest":{"meta-data":{"id":"i-new"}}})"));
  const std::string request = "GET /latest/meta-data/id HTTP/1.1\r\n\r\n";
  EXPECT_TRUE(send({.seq = seq, .ack = server, .flags = f::kAck, .payload = request}));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload.ends_with("i-new"));
}

}  // namespace
}  // namespace hearth::virtio::net::mmds

namespace hearth::virtio::net::mmds {
namespace {

TEST(MmdsMetrics, FirecrackersMmdsGroupCounts) {
  using namespace testing;
  namespace f = tcp_flags;
  metrics::Registry registry;
  auto service = std::make_shared<Service>(Service::kDefaultSizeLimit, registry);
  MmdsConfig config;
  config.version = Version::V2;
  config.network_interfaces = {"eth0"};
  service->set_config(config);
  service->put(nlohmann::json::object());
  auto stack = service->make_stack("eth0", kGuestMac);
  const auto now = Clock::time_point{} + std::chrono::seconds(10);
  auto frames = [&] {
    std::vector<Got> out;
    while (stack->has_frame())
      if (auto g = parse_tcp_out(stack->pop_frame())) out.push_back(*g);
    return out;
  };
  EXPECT_TRUE(stack->handle_guest_frame(tcp_frame({.seq = 1, .flags = f::kSyn}), now));
  const uint32_t server = frames().at(0).seq + 1;
  EXPECT_TRUE(stack->handle_guest_frame(tcp_frame({.seq = 2, .ack = server, .flags = f::kAck, .payload = "GET / HTTP/1.1\r\n\r\n"}), now));
  auto got = frames();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload.starts_with("HTTP/1.1 401"));
  auto bad = tcp_frame({.seq = 1, .flags = f::kSyn});
  bad[14 + 8] ^= 1;  // IPv4 header checksum now wrong
  EXPECT_TRUE(stack->handle_guest_frame(bad, now));
  EXPECT_TRUE(stack->handle_guest_frame(tcp_frame({.seq = 20, .flags = f::kRst}), now));
  EXPECT_EQ(registry.counter("mmds.rx_accepted").get(), 4u);
  EXPECT_EQ(registry.counter("mmds.rx_accepted_err").get(), 1u);
  EXPECT_EQ(registry.counter("mmds.rx_count").get(), 1u);
  EXPECT_EQ(registry.counter("mmds.rx_no_token").get(), 1u);
  EXPECT_EQ(registry.counter("mmds.tx_frames").get(), 2u);
  EXPECT_EQ(registry.counter("mmds.connections_created").get(), 1u);
  EXPECT_EQ(registry.counter("mmds.connections_destroyed").get(), 1u);
}

}  // namespace
}  // namespace hearth::virtio::net::mmds
