#include "virtio/mmio/transport.h"

#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"

namespace hearth::virtio::mmio {
namespace {

uint32_t low32(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t high32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
uint64_t with_low(uint64_t v, uint32_t lo) { return (v & 0xffffffff00000000ull) | lo; }
uint64_t with_high(uint64_t v, uint32_t hi) { return (v & 0xffffffffull) | (uint64_t{hi} << 32); }

}  // namespace

MmioTransport::MmioTransport(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory,
                             std::shared_ptr<IrqLine> irq, EventLoop* loop)
    : device_(std::move(device)), memory_(memory), interrupt_(std::move(irq)), loop_(loop) {
  for (uint16_t max : device_->queue_max_sizes()) {
    queues_.emplace_back(max);
    queue_events_.emplace_back();
  }
  if (loop_) {
    for (uint16_t i = 0; i < num_queues(); ++i) {
      registrations_.emplace_back(*loop_, queue_events_[i].fd(), EPOLLIN, [this, i](uint32_t) {
        queue_events_[i].consume();
        notify(i);
      });
    }
  }
}

MmioTransport::~MmioTransport() {
  registrations_.clear();  // no handler may run into a half-destroyed transport
  std::lock_guard lock(device_->mutex());
  if (device_->activated()) device_->reset();
}

bool MmioTransport::activated() const {
  std::lock_guard lock(device_->mutex());
  return device_->activated();
}

uint32_t MmioTransport::status() const {
  std::lock_guard lock(device_->mutex());
  return status_ | (interrupt_.needs_reset() ? kStatusNeedsReset : 0);
}

void MmioTransport::notify(uint16_t index) {
  std::lock_guard lock(device_->mutex());
  if (index >= num_queues() || !device_->activated() || interrupt_.needs_reset()) return;
  device_->process_queue(index);
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  if (offset >= kConfigSpace) {
    std::lock_guard lock(device_->mutex());
    device_->read_config(offset - kConfigSpace, data);
    return;
  }
  if (data.size() != 4 || offset % 4) return;  // registers are 32-bit only (spec 4.2.2.2)
  uint32_t value;
  if (offset == kRegInterruptStatus) {
    value = interrupt_.status();  // lock-free: must not wait for queue processing
  } else {
    std::lock_guard lock(device_->mutex());
    value = read_register(offset);
  }
  std::memcpy(data.data(), &value, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfigSpace) {
    std::lock_guard lock(device_->mutex());
    device_->write_config(offset - kConfigSpace, data);
    return;
  }
  if (data.size() != 4 || offset % 4) return;
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  if (offset == kRegInterruptAck) {
    interrupt_.ack(value);
    return;
  }
  if (offset == kRegQueueNotify) {
    if (value >= num_queues()) return;
    // Defer to the VMM thread when there is one: vCPU threads never do device I/O.
    if (loop_) {
      queue_events_[value].signal();
    } else {
      notify(static_cast<uint16_t>(value));
    }
    return;
  }
  std::lock_guard lock(device_->mutex());
  write_register(offset, value);
}

uint32_t MmioTransport::read_register(uint64_t offset) const {
  switch (offset) {
    case kRegMagicValue: return kMagicValue;
    case kRegVersion: return kVersion;
    case kRegDeviceId: return device_->device_type();
    case kRegVendorId: return kVendorId;
    case kRegDeviceFeatures: {
      const uint64_t features = device_->avail_features();
      if (device_features_sel_ == 0) return low32(features);
      if (device_features_sel_ == 1) return high32(features);
      return 0;
    }
    case kRegQueueNumMax: return queue_sel_ < queues_.size() ? queues_[queue_sel_].max_size() : 0;
    case kRegQueueReady: return queue_sel_ < queues_.size() && queues_[queue_sel_].ready() ? 1 : 0;
    case kRegStatus: return status_ | (interrupt_.needs_reset() ? kStatusNeedsReset : 0);
    case kRegConfigGeneration: return interrupt_.config_generation();
    default:
      if (offset >= kRegShmLenLow && offset <= kRegShmBaseHigh) return 0xffffffff;
      return 0;
  }
}

Queue* MmioTransport::selected_queue() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

bool MmioTransport::queue_config_writable() const {
  // Queues are set up between FEATURES_OK and DRIVER_OK (spec 4.2.3.2).
  return (status_ & kStatusFeaturesOk) && !(status_ & (kStatusDriverOk | kStatusFailed));
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kRegDeviceFeaturesSel: device_features_sel_ = value; return;
    case kRegDriverFeaturesSel: driver_features_sel_ = value; return;
    case kRegDriverFeatures:
      // Only while negotiating: after FEATURES_OK the set is frozen.
      if (status_ != (kStatusAcknowledge | kStatusDriver)) return;
      if (driver_features_sel_ == 0) driver_features_ = with_low(driver_features_, value);
      if (driver_features_sel_ == 1) driver_features_ = with_high(driver_features_, value);
      return;
    case kRegQueueSel: queue_sel_ = value; return;
    case kRegStatus: write_status(value); return;
    default: break;
  }
  Queue* q = selected_queue();
  if (!q || !queue_config_writable()) return;
  switch (offset) {
    case kRegQueueNum: q->set_size(value > 0xffff ? 0 : static_cast<uint16_t>(value)); break;  // 0: invalid
    case kRegQueueReady: q->set_ready(value == 1); break;
    case kRegQueueDescLow: q->set_desc_table(with_low(q->desc_table(), value)); break;
    case kRegQueueDescHigh: q->set_desc_table(with_high(q->desc_table(), value)); break;
    case kRegQueueDriverLow: q->set_avail_ring(with_low(q->avail_ring(), value)); break;
    case kRegQueueDriverHigh: q->set_avail_ring(with_high(q->avail_ring(), value)); break;
    case kRegQueueDeviceLow: q->set_used_ring(with_low(q->used_ring(), value)); break;
    case kRegQueueDeviceHigh: q->set_used_ring(with_high(q->used_ring(), value)); break;
    default: break;
  }
}

bool MmioTransport::features_acceptable() const {
  const uint64_t offered = device_->avail_features();
  return (driver_features_ & ~offered) == 0 && (driver_features_ & feature_bit(kFeatureVersion1));
}

void MmioTransport::write_status(uint32_t value) {
  if (value == 0) {
    reset();
    return;
  }
  // FAILED may be set at any time; the device then ignores the driver until reset.
  if (value & kStatusFailed) {
    status_ |= kStatusFailed;
    return;
  }
  // Each step sets exactly one new bit on top of the previous ones (spec 3.1.1).
  const uint32_t next = value & ~status_;
  if ((value & status_) != status_) return;  // clearing bits other than by reset
  if (status_ == 0 && next == kStatusAcknowledge) {
    status_ = value;
  } else if (status_ == kStatusAcknowledge && next == kStatusDriver) {
    status_ = value;
  } else if (status_ == (kStatusAcknowledge | kStatusDriver) && next == kStatusFeaturesOk) {
    // Refusal: FEATURES_OK stays clear and the driver sees that when it reads Status back.
    if (features_acceptable()) status_ = value;
  } else if (status_ == (kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk) && next == kStatusDriverOk) {
    status_ = value;
    activate();
  }
}

void MmioTransport::activate() {
  for (auto& q : queues_) {
    q.set_event_idx(driver_features_ & feature_bit(kFeatureRingEventIdx));
    q.set_indirect(driver_features_ & feature_bit(kFeatureRingIndirectDesc));
    if (!q.is_valid(memory_)) {
      SPDLOG_WARN("virtio-mmio: driver set DRIVER_OK with an invalid queue; device needs reset");
      interrupt_.signal_needs_reset();
      return;
    }
  }
  try {
    device_->activate(memory_, queues_, interrupt_, driver_features_);
  } catch (const Error& e) {
    SPDLOG_ERROR("virtio-mmio: device activation failed: {}", e.what());
    interrupt_.signal_needs_reset();
    return;
  }
  if (on_activated_) on_activated_();
}

void MmioTransport::reset() {
  const bool was_active = device_->activated();
  if (was_active) device_->reset();
  for (auto& q : queues_) q.reset();
  for (auto& ev : queue_events_) ev.consume();  // a stale kick must not reach the next activation
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  queue_sel_ = 0;
  driver_features_ = 0;
  interrupt_.reset();
  if (was_active && on_reset_) on_reset_();
}

TransportState MmioTransport::save() const {
  std::lock_guard lock(device_->mutex());
  TransportState s;
  s.device_type = device_->device_type();
  s.status = status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.queue_sel = queue_sel_;
  s.driver_features = driver_features_;
  s.interrupt_status = interrupt_.status();
  s.config_generation = interrupt_.config_generation();
  s.needs_reset = interrupt_.needs_reset();
  for (const auto& q : queues_) s.queues.push_back(q.save());
  return s;
}

void MmioTransport::restore(const TransportState& s) {
  std::lock_guard lock(device_->mutex());
  if (s.device_type != device_->device_type() || s.queues.size() != queues_.size()) {
    throw Error(fmt::format("virtio-mmio state is for device type {} with {} queues, not type {} with {}",
                            s.device_type, s.queues.size(), device_->device_type(), queues_.size()));
  }
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (s.queues[i].max_size != queues_[i].max_size()) {
      throw Error(fmt::format("virtio-mmio state queue {} has max size {}, device has {}", i,
                              s.queues[i].max_size, queues_[i].max_size()));
    }
  }
  if (device_->activated()) device_->reset();
  for (size_t i = 0; i < queues_.size(); ++i) queues_[i].restore(s.queues[i]);
  status_ = s.status;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  queue_sel_ = s.queue_sel;
  driver_features_ = s.driver_features;
  interrupt_.restore(s.interrupt_status, s.config_generation, s.needs_reset);
  if ((status_ & kStatusDriverOk) && !s.needs_reset) {
    for (auto& q : queues_) {
      if (!q.is_valid(memory_)) throw Error(fmt::format("virtio-mmio state has an invalid queue for an active device"));
    }
    device_->activate(memory_, queues_, interrupt_, driver_features_);
    if (on_activated_) on_activated_();
    // A notification the source VMM had not handled when it saved is lost with its ioeventfd; the
    // buffers it announced are in the avail ring, so serve them now.
    for (uint16_t i = 0; i < num_queues(); ++i) device_->process_queue(i);
  }
}

}  // namespace hearth::virtio::mmio
