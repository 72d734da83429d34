// libFuzzer target: a hostile vsock driver controls all of guest memory and where its rx, tx and event
// queues lie. Packet-header parsing, the muxer's handling of every op for known and unknown
// connections, and rx filling must never crash, hang, grow without bound or touch memory outside RAM.
// Two phases per input: the packet parser and muxer fed straight from the bytes (no rings), then the
// whole device over rings the input places.
#include <cstdint>
#include <memory>
#include <mutex>

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

// Header bytes straight from the input, then its payload; returns false when the input ran out.
bool feed_muxer(vsock::Muxer& mux, const uint8_t*& data, size_t& size) {
  if (size < vsock::kHeaderSize) return false;
  vsock::PacketHeader h = vsock::header_from_bytes({data, vsock::kHeaderSize});
  data += vsock::kHeaderSize;
  size -= vsock::kHeaderSize;
  if (h.src_cid & 1) h.src_cid = kCid;  // reach past the CID check often
  if (h.dst_cid & 1) h.dst_cid = vsock::kHostCid;
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
  {
    std::mutex m;
    vsock::VsockMetrics metrics;
    vsock::Muxer mux(kCid, "/nonexistent/fuzz.sock", nullptr, m, metrics, [] {});
    mux.set_active(true);
    const uint8_t* p = data;
    size_t left = size;
    while (feed_muxer(mux, p, left)) {
    }
  }

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
