// libFuzzer target: a hostile driver controls all of guest memory and both rings (rx and tx), and the
// host side sends frames of sizes it picks. The virtio-net tx path (chain checks, writev from guest
// memory), the rx path (gathering buffers, readv into them, MRG_RXBUF spreading) and the rate limiter
// must never crash, hang or touch memory outside guest RAM.
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "tests/fuzz/virtio_fuzz_input.h"
#include "virtio/net/device.h"
#include "virtio/queue/queue.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/fd.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;
using namespace hearth::virtio::fuzz;

struct SteppingClock : Clock {
  mutable uint64_t now = 1'000'000'000;
  uint64_t now_ns() const override { return now += 1'000'000; }
};

struct PairBackend : net::Backend {
  UniqueFd end;
  int fd() const override { return end.get(); }
  void set_offload(uint64_t) override {}
};

struct NetUnderTest {
  std::shared_ptr<net::NetDevice> dev;
  UniqueFd peer;
  explicit NetUnderTest(bool limited) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    int big = 1 << 20;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    peer = UniqueFd(sv[1]);
    auto backend = std::make_unique<PairBackend>();
    backend->end = UniqueFd(sv[0]);
    net::NetConfig cfg;
    cfg.iface_id = "eth0";
    cfg.host_dev_name = "tap0";
    if (limited) {
      RateLimiterConfig rl;
      rl.bandwidth = TokenBucketConfig{8192, 1024, 10};
      rl.ops = TokenBucketConfig{4, 0, 10};
      cfg.rx_rate_limiter = rl;
      cfg.tx_rate_limiter = rl;
    }
    dev = std::make_shared<net::NetDevice>(cfg, std::move(backend), nullptr, nullptr, std::make_shared<SteppingClock>());
  }
  void drain() {
    std::vector<uint8_t> buf(net::kMaxBufferLen + 16);
    while (::recv(peer.get(), buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
    }
  }
};

struct Fixture {
  GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  NetUnderTest plain{false};
  NetUnderTest limited{true};
  NullInterrupt irq;
  std::vector<uint8_t> frame = std::vector<uint8_t>(net::kMaxBufferLen + 1, 0xab);
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  const RingInput rx_in = take_ring_input(data, size);
  const RingInput tx_in = take_ring_input(data, size);
  // Up to four host frames; their sizes come from the input (0 to past the largest buffer).
  const uint8_t nframes = take<uint8_t>(data, size) % 5;
  uint32_t lens[4];
  for (auto& l : lens) l = take<uint32_t>(data, size) % (net::kMaxBufferLen + 2);
  fill_guest_memory(fx.mem, data, size);

  std::vector<Queue> queues;
  queues.emplace_back(net::kQueueSize);
  queues.emplace_back(net::kQueueSize);
  place_queue(queues[0], rx_in);
  place_queue(queues[1], tx_in);
  if (!queues[0].is_valid(fx.mem) || !queues[1].is_valid(fx.mem)) return 0;
  uint64_t features = ring_features(rx_in);
  if (rx_in.flags & 2) features |= feature_bit(net::kFeatureMrgRxbuf);
  NetUnderTest& d = (rx_in.flags & 4) ? fx.limited : fx.plain;
  d.drain();
  for (uint8_t i = 0; i < nframes; ++i) ::send(d.peer.get(), fx.frame.data(), lens[i], MSG_DONTWAIT);

  d.dev->activate(fx.mem, queues, fx.irq, features);
  d.dev->process_queue(net::kTxQueue);
  d.dev->process_queue(net::kRxQueue);
  d.dev->handle_tap_event(EPOLLIN);
  if (tx_in.flags & 2) d.dev->process_queue(net::kTxQueue);  // a second kick (throttled or broken)
  d.dev->handle_rx_limiter_timer();                           // usually spurious: must be harmless
  d.dev->handle_tx_limiter_timer();
  d.dev->restore(d.dev->save());
  d.dev->reset();
  d.drain();
  return 0;
}
