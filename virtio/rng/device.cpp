#include "virtio/rng/device.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/guest_iov.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"

namespace hearth::virtio::rng {

RngDevice::RngDevice(const EntropyDeviceConfig& config, EventLoop* loop, std::shared_ptr<const Clock> clock)
    : clock_(std::move(clock)), limiter_(config.rate_limiter.value_or(RateLimiterConfig{}), clock_) {
  avail_features_ = feature_bit(kFeatureVersion1) | feature_bit(kFeatureRingEventIdx);
  if (loop) {
    timer_reg_ = EventRegistration(*loop, limiter_.timer_fd(), EPOLLIN, [this](uint32_t) { handle_rate_limiter_timer(); });
  }
}

RngDevice::~RngDevice() { timer_reg_.reset(); }

uint32_t RngDevice::device_type() const { return kDeviceIdRng; }

void RngDevice::read_config(uint64_t, std::span<uint8_t> data) const { std::fill(data.begin(), data.end(), 0); }

void RngDevice::write_config(uint64_t, std::span<const uint8_t>) {}

void RngDevice::activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                         uint64_t acked_features) {
  if (queues.size() != 1) throw Error("virtio-rng activated with a queue count other than 1");
  memory_ = &memory;
  queue_ = &queues[0];
  interrupt_ = &interrupt;
  acked_features_ = acked_features;
  used_pending_signal_ = false;
  activated_ = true;
  ++metrics_.activate_count;
}

void RngDevice::reset() {
  // Requests are answered synchronously, so nothing is in flight.
  activated_ = false;
  memory_ = nullptr;
  queue_ = nullptr;
  interrupt_ = nullptr;
  acked_features_ = 0;
  used_pending_signal_ = false;
}

void RngDevice::process_queue(uint16_t index) {
  if (!activated_ || index != 0 || queue_->broken()) return;
  ++metrics_.event_count;
  drain_queue();
}

bool RngDevice::rate_limit(uint32_t bytes) {
  if (!limiter_.consume(1, TokenType::kOps)) return false;
  if (!limiter_.consume(bytes, TokenType::kBytes)) {
    limiter_.manual_replenish(1, TokenType::kOps);
    return false;
  }
  return true;
}

void RngDevice::drain_queue() {
  for (;;) {
    auto popped = queue_->pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) {
      signal_used();  // what was answered before the break still reaches the driver
      return queue_broken(*err);
    }
    auto& chain = std::get<std::optional<DescriptorChain>>(popped);
    if (!chain) {
      auto more = queue_->enable_notification(*memory_);
      if (auto* err = std::get_if<QueueError>(&more)) {
        signal_used();
        return queue_broken(*err);
      }
      if (std::get<bool>(more)) continue;
      break;
    }
    if (!chain->readable.empty()) {
      // Every buffer of an entropy request is device-writable; never write into this one.
      ++metrics_.event_fails;
      if (!complete(chain->head, 0)) return;
      continue;
    }
    const uint32_t len = std::min(chain->writable_len, kMaxRequestBytes);
    if (!rate_limit(len)) {  // also refused while the limiter is blocked; its timer handler resumes us
      queue_->undo_pop();    // the same chain is popped again then
      ++metrics_.rate_limiter_throttled;
      break;
    }
    uint32_t written = 0;
    if (len > 0) {
      auto parts = sub_range(chain->writable, 0, len);
      if (!parts) {
        ++metrics_.event_fails;
      } else if (!fill_random(*parts)) {
        ++metrics_.host_rng_fails;
        ++metrics_.event_fails;
      } else {
        written = len;
      }
    }
    if (!complete(chain->head, written)) return;
  }
  signal_used();
}

bool RngDevice::fill_random(std::span<const GuestBuffer> buffers) {
  auto iov = to_iovecs(*memory_, buffers);
  if (!iov) return false;
  for (const iovec& v : *iov) {
    auto* p = static_cast<uint8_t*>(v.iov_base);
    size_t left = v.iov_len;
    while (left > 0) {
      const ssize_t n = ::getrandom(p, left, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        SPDLOG_WARN("virtio-rng: getrandom failed: {}", n < 0 ? std::strerror(errno) : "no bytes");
        return false;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  return true;
}

bool RngDevice::complete(uint16_t head, uint32_t len) {
  ++metrics_.requests;
  metrics_.entropy_bytes += len;
  if (auto err = queue_->add_used(*memory_, head, len)) {
    signal_used();
    queue_broken(*err);
    return false;
  }
  used_pending_signal_ = true;
  return true;
}

void RngDevice::signal_used() {
  if (!used_pending_signal_ || !activated_) return;
  used_pending_signal_ = false;
  if (queue_->needs_notification(*memory_)) interrupt_->signal_used_queue(0);
}

void RngDevice::queue_broken(QueueError error) {
  // Called once per break: afterwards the queue reports broken() and nothing touches it.
  ++metrics_.queue_errors;
  SPDLOG_WARN("virtio-rng: driver broke the virtqueue ({}); device needs reset", to_string(error));
  interrupt_->signal_needs_reset();
}

void RngDevice::handle_rate_limiter_timer() {
  std::lock_guard lock(mutex());
  if (!limiter_.on_timer()) return;
  ++metrics_.rate_limiter_event_count;
  if (!activated_ || queue_->broken()) return;
  drain_queue();
}

void RngDevice::update_rate_limiter(const BucketUpdate& bytes, const BucketUpdate& ops) {
  std::lock_guard lock(mutex());
  limiter_.update_buckets(bytes, ops);
}

DeviceState RngDevice::save() const {
  std::lock_guard lock(mutex());
  const RngState s{acked_features_, limiter_.save()};
  return DeviceState{std::string(kKind), std::string(), kStateVersion, nlohmann::json(s)};
}

void RngDevice::restore(const DeviceState& state) {
  check_state_header(state, kKind, kStateVersion);
  RngState s;
  try {
    s = state.data.get<RngState>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: saved state is malformed: {}", kKind, e.what()));
  }
  std::lock_guard lock(mutex());
  limiter_.restore(s.rate_limiter);
  // The transport re-activates the device with the same features when it restores its own state.
  acked_features_ = s.acked_features;
}

void RngDevice::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  export_counter(registry, prefix + "activate_count", metrics_.activate_count);
  export_counter(registry, prefix + "event_count", metrics_.event_count);
  export_counter(registry, prefix + "requests", metrics_.requests);
  export_counter(registry, prefix + "entropy_bytes", metrics_.entropy_bytes);
  export_counter(registry, prefix + "event_fails", metrics_.event_fails);
  export_counter(registry, prefix + "host_rng_fails", metrics_.host_rng_fails);
  export_counter(registry, prefix + "rate_limiter_throttled", metrics_.rate_limiter_throttled);
  export_counter(registry, prefix + "rate_limiter_event_count", metrics_.rate_limiter_event_count);
  export_counter(registry, prefix + "queue_errors", metrics_.queue_errors);
}

}  // namespace hearth::virtio::rng
