// libFuzzer target: a hostile vsock driver controls all of guest memory and where its rx, tx and event
// queues lie. Packet-header parsing, the muxer's handling of every op for known and unknown
// connections, and rx filling must never crash, hang, grow without bound or touch memory outside RAM.
// Two phases per input: the packet parser and muxer fed straight from the bytes (no rings; guest REQUESTs
// to port 1 reach a real listener), then the whole device over rings the input places.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "tests/fuzz/virtio_fuzz_input.h"
#include "virtio/queue/queue.h"
#include "virtio/virtio_defs.h"
#include "virtio/vsock/device.h"
#include "virtio/vsock/muxer.h"
#include "virtio/vsock/packet.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;
using namespace hearth::virtio::fuzz;

constexpr uint64_t kCid = 3;
constexpr uint32_t kListenedPort = 1;

// A real host side for the muxer phase: a temporary uds_path and a listener at "<uds_path>_1", so guest
// REQUESTs to port 1 become live connections (RW, SHUTDOWN and credit then hit real sockets).
struct HostSide {
  std::string dir;
  std::string uds;
  int listener = -1;
  EventLoop loop;
  HostSide() {
    char tmpl[] = "/tmp/hearth-vsock-fuzz-XXXXXX";
    dir = ::mkdtemp(tmpl);
    uds = dir + "/v.sock";
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string path = uds + "_" + std::to_string(kListenedPort);
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ::bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    ::listen(listener, 1024);
  }
  ~HostSide() {
    ::close(listener);
    ::unlink((uds + "_" + std::to_string(kListenedPort)).c_str());
    ::rmdir(dir.c_str());
  }
  // Accepts and closes what the muxer connected (the host peer hangs up at once), keeping the backlog free.
  void drain() {
    for (int fd; (fd = ::accept(listener, nullptr, nullptr)) >= 0;) ::close(fd);
  }
};

// Header bytes straight from the input, then its payload; returns false when the input ran out.
bool feed_muxer(vsock::Muxer& mux, const uint8_t*& data, size_t& size) {
  if (size < vsock::kHeaderSize) return false;
  vsock::PacketHeader h = vsock::header_from_bytes({data, vsock::kHeaderSize});
  data += vsock::kHeaderSize;
  size -= vsock::kHeaderSize;
  if (h.src_cid & 1) h.src_cid = kCid;  // reach past the CID check often
  if (h.dst_cid & 1) h.dst_cid = vsock::kHostCid;
  if (h.dst_port & 0x100) h.dst_port = kListenedPort;
  h.src_port &= 7;  // few guest ports, so packets find the connections earlier ones made
  const size_t available = vsock::kHeaderSize + std::min<size_t>(size, vsock::kMaxPacketData);
  if (vsock::check_tx_header(h, available)) return true;
  mux.handle_tx(h, {data, h.len});
  data += h.len;
  size -= h.len;
  vsock::PacketHeader out;
  std::vector<uint8_t> payload;
  for (int i = 0; i < 4 && mux.next_rx(out, payload, 4096); ++i) {
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  static NullInterrupt irq;
  static HostSide host;
  {
    std::mutex m;
    vsock::VsockMetrics metrics;
    vsock::Muxer mux(kCid, host.uds, &host.loop, m, metrics, [] {});
    mux.set_active(true);
    const uint8_t* p = data;
    size_t left = size;
    while (feed_muxer(mux, p, left)) {
      if (left & 1) host.drain();
      host.loop.run_once(0);  // socket events (HUP of the closed peers, writability)
    }
  }
  host.drain();

  const RingInput rx_in = take_ring_input(data, size);
  const RingInput tx_in = take_ring_input(data, size);
  const RingInput ev_in = take_ring_input(data, size);
  fill_guest_memory(mem, data, size);
  Queue queues[3] = {Queue(vsock::kQueueSize), Queue(vsock::kQueueSize), Queue(vsock::kQueueSize)};
  place_queue(queues[0], rx_in);
  place_queue(queues[1], tx_in);
  place_queue(queues[2], ev_in);
  for (auto& q : queues) {
    if (!q.is_valid(mem)) return 0;
  }
  // No event loop: no host sockets, so guest REQUESTs are refused with RSTs.
  vsock::VsockDevice dev(vsock::VsockConfig{kCid, "/nonexistent/fuzz.sock"}, nullptr);
  dev.activate(mem, queues, irq, ring_features(tx_in));
  dev.process_queue(vsock::kTxQueue);
  dev.process_queue(vsock::kRxQueue);
  if (tx_in.flags & 2) dev.restore(dev.save());  // then the event queue gets a transport reset
  dev.process_queue(vsock::kEventQueue);
  dev.reset();
  return 0;
}
