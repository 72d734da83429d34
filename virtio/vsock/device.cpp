#include "virtio/vsock/device.h"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/guest_iov.h"
#include "virtio/virtio_defs.h"
#include "virtio/vsock/packet.h"
#include "vmm/base/error.h"

namespace hearth::virtio::vsock {

VsockDevice::VsockDevice(const VsockConfig& config, EventLoop* loop) : config_(config) {
  avail_features_ = feature_bit(kFeatureVersion1);
  muxer_ = std::make_unique<Muxer>(config.guest_cid, config.uds_path, loop, mutex(), metrics_, [this] { fill_rx(); });
}

VsockDevice::~VsockDevice() { muxer_.reset(); }

uint32_t VsockDevice::device_type() const { return kDeviceIdVsock; }

void VsockDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t space[8];
  std::memcpy(space, &config_.guest_cid, sizeof space);  // le64 guest_cid
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof space ? space[offset + i] : 0;
}

void VsockDevice::write_config(uint64_t, std::span<const uint8_t>) {}  // read-only (5.10.4)

void VsockDevice::activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                           uint64_t acked_features) {
  if (queues.size() != 3) throw Error("virtio-vsock activated with a queue count other than 3");
  memory_ = &memory;
  queues_ = queues;
  interrupt_ = &interrupt;
  acked_features_ = acked_features;
  std::fill(std::begin(used_pending_), std::end(used_pending_), false);
  activated_ = true;
  muxer_->set_active(true);
  ++metrics_.activate_count;
}

void VsockDevice::reset() {
  // A driver reset ends every stream: the host peers see their sockets close.
  muxer_->set_active(false);
  muxer_->reset_all();
  activated_ = false;
  memory_ = nullptr;
  queues_ = {};
  interrupt_ = nullptr;
  acked_features_ = 0;
}

void VsockDevice::process_queue(uint16_t index) {
  if (!activated_ || index >= queues_.size() || queues_[index].broken()) return;
  switch (index) {
    case kRxQueue:
      ++metrics_.rx_queue_event_count;
      fill_rx();
      break;
    case kTxQueue:
      ++metrics_.tx_queue_event_count;
      process_tx();
      fill_rx();  // replies (RESPONSE, RST, credit) and data the new credit lets through
      break;
    default:
      ++metrics_.ev_queue_event_count;
      fill_event();
      break;
  }
}

bool VsockDevice::pop(uint16_t queue, DescriptorChain& chain) {
  Queue& q = queues_[queue];
  if (q.broken()) return false;
  for (;;) {
    auto popped = q.pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) {
      signal_used();
      queue_broken(*err);
      return false;
    }
    auto& got = std::get<std::optional<DescriptorChain>>(popped);
    if (got) {
      chain = std::move(*got);
      return true;
    }
    auto more = q.enable_notification(*memory_);
    if (auto* err = std::get_if<QueueError>(&more)) {
      signal_used();
      queue_broken(*err);
      return false;
    }
    if (!std::get<bool>(more)) return false;
  }
}

void VsockDevice::process_tx() {
  DescriptorChain chain;
  PacketHeader header;
  while (activated_ && pop(kTxQueue, chain)) {
    if (const char* why = read_tx_packet(*memory_, chain.readable, chain.readable_len, header, scratch_)) {
      ++metrics_.tx_bad_packets;
      SPDLOG_DEBUG("virtio-vsock: tx packet dropped: {}", why);
    } else {
      muxer_->handle_tx(header, scratch_);
    }
    if (!complete(kTxQueue, chain.head, 0)) return;
  }
  signal_used();
}

void VsockDevice::fill_rx() {
  if (!activated_) return;
  DescriptorChain chain;
  PacketHeader header;
  while (muxer_->has_rx() && pop(kRxQueue, chain)) {
    if (chain.writable_len < kHeaderSize) {
      ++metrics_.rx_bad_buffers;
      if (!complete(kRxQueue, chain.head, 0)) return;
      continue;
    }
    const uint32_t room = std::min(chain.writable_len - kHeaderSize, kMaxPacketData);
    if (!muxer_->next_rx(header, scratch_, room)) {
      queues_[kRxQueue].undo_pop();
      break;
    }
    const auto* raw = reinterpret_cast<const uint8_t*>(&header);
    if (!copy_to_guest(*memory_, chain.writable, 0, {raw, kHeaderSize}) ||
        !copy_to_guest(*memory_, chain.writable, kHeaderSize, scratch_)) {
      ++metrics_.rx_bad_buffers;  // cannot happen for a validated chain; the packet is lost
    }
    ++metrics_.rx_packets_count;
    if (!complete(kRxQueue, chain.head, kHeaderSize + static_cast<uint32_t>(scratch_.size()))) return;
  }
  signal_used();
}

void VsockDevice::fill_event() {
  if (!activated_ || !reset_event_pending_) return;
  DescriptorChain chain;
  if (!pop(kEventQueue, chain)) return;
  uint32_t len = 0;
  const uint32_t id = kEventTransportReset;
  if (chain.writable_len >= sizeof id &&
      copy_to_guest(*memory_, chain.writable, 0, {reinterpret_cast<const uint8_t*>(&id), sizeof id})) {
    len = sizeof id;
    reset_event_pending_ = false;
    ++metrics_.transport_reset_events;
  }
  if (complete(kEventQueue, chain.head, len)) signal_used();
}

bool VsockDevice::complete(uint16_t queue, uint16_t head, uint32_t len) {
  if (auto err = queues_[queue].add_used(*memory_, head, len)) {
    signal_used();
    queue_broken(*err);
    return false;
  }
  used_pending_[queue] = true;
  return true;
}

void VsockDevice::signal_used() {
  if (!activated_) return;
  for (uint16_t i = 0; i < 3; ++i) {
    if (!used_pending_[i]) continue;
    used_pending_[i] = false;
    if (queues_[i].needs_notification(*memory_)) interrupt_->signal_used_queue(i);
  }
}

void VsockDevice::queue_broken(QueueError error) {
  ++metrics_.queue_errors;
  SPDLOG_WARN("virtio-vsock: driver broke a virtqueue ({}); device needs reset", to_string(error));
  interrupt_->signal_needs_reset();
}

DeviceState VsockDevice::save() const {
  std::lock_guard lock(mutex());
  const VsockState s{acked_features_, config_.guest_cid};
  return DeviceState{std::string(kKind), std::string(), kStateVersion, nlohmann::json(s)};
}

void VsockDevice::restore(const DeviceState& state) {
  check_state_header(state, kKind, kStateVersion);
  VsockState s;
  try {
    s = state.data.get<VsockState>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: saved state is malformed: {}", kKind, e.what()));
  }
  if (s.guest_cid != config_.guest_cid) {
    throw Error(fmt::format("{}: saved guest_cid {} differs from the configured {}", kKind, s.guest_cid,
                            config_.guest_cid));
  }
  std::lock_guard lock(mutex());
  acked_features_ = s.acked_features;
  muxer_->reset_all();
  // The transport re-activates the device and serves every queue, which delivers this.
  reset_event_pending_ = true;
}

void VsockDevice::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  const std::pair<const char*, const std::atomic<uint64_t>*> counters[] = {
      {"activate_count", &metrics_.activate_count},
      {"rx_queue_event_count", &metrics_.rx_queue_event_count},
      {"tx_queue_event_count", &metrics_.tx_queue_event_count},
      {"ev_queue_event_count", &metrics_.ev_queue_event_count},
      {"rx_packets_count", &metrics_.rx_packets_count},
      {"tx_packets_count", &metrics_.tx_packets_count},
      {"rx_bytes_count", &metrics_.rx_bytes_count},
      {"tx_bytes_count", &metrics_.tx_bytes_count},
      {"tx_bad_packets", &metrics_.tx_bad_packets},
      {"rx_bad_buffers", &metrics_.rx_bad_buffers},
      {"conns_added", &metrics_.conns_added},
      {"conns_removed", &metrics_.conns_removed},
      {"conns_refused", &metrics_.conns_refused},
      {"rst_sent", &metrics_.rst_sent},
      {"rst_dropped", &metrics_.rst_dropped},
      {"credit_violations", &metrics_.credit_violations},
      {"tx_write_fails", &metrics_.tx_write_fails},
      {"rx_read_fails", &metrics_.rx_read_fails},
      {"bad_connect_lines", &metrics_.bad_connect_lines},
      {"connect_timeouts", &metrics_.connect_timeouts},
      {"transport_reset_events", &metrics_.transport_reset_events},
      {"queue_errors", &metrics_.queue_errors},
  };
  for (const auto& [name, value] : counters) export_counter(registry, prefix + name, *value);
}

}  // namespace hearth::virtio::vsock
