#include "virtio/net/device.h"

#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "virtio/guest_iov.h"
#include "virtio/net/mac.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"
#include "vmm/config/rate_limiter_json.h"

namespace hearth::virtio::net {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;

// Copies `data` into the iovecs from byte `offset`; the number of bytes that fitted.
size_t copy_into(std::span<const iovec> iov, size_t offset, std::span<const uint8_t> data) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == data.size()) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    const size_t n = std::min(v.iov_len - offset, data.size() - done);
    std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset, data.data() + done, n);
    done += n;
    offset = 0;
  }
  return done;
}

BucketUpdate bucket_update(const std::optional<TokenBucketConfig>& bucket) {
  if (!bucket) return BucketUpdate::keep();
  if (bucket->size == 0 || bucket->refill_time_ms == 0) return BucketUpdate::disable();
  return BucketUpdate::set(*bucket);
}

}  // namespace

NetDevice::NetDevice(NetConfig config, std::unique_ptr<Backend> backend, EventLoop* loop,
                     std::unique_ptr<MmdsPort> mmds, std::shared_ptr<const Clock> clock)
    : config_(std::move(config)),
      backend_(std::move(backend)),
      loop_(loop),
      mmds_(std::move(mmds)),
      clock_(std::move(clock)),
      rx_limiter_(config_.rx_rate_limiter.value_or(RateLimiterConfig{}), clock_),
      tx_limiter_(config_.tx_rate_limiter.value_or(RateLimiterConfig{}), clock_) {
  // Firecracker's set: offloads pass through to the TAP, which takes and gives GSO frames.
  avail_features_ = feature_bit(kFeatureCsum) | feature_bit(kFeatureGuestCsum) | feature_bit(kFeatureGuestTso4) |
                    feature_bit(kFeatureGuestTso6) | feature_bit(kFeatureGuestUfo) | feature_bit(kFeatureHostTso4) |
                    feature_bit(kFeatureHostTso6) | feature_bit(kFeatureHostUfo) | feature_bit(kFeatureMrgRxbuf) |
                    feature_bit(kFeatureStatus) | feature_bit(kFeatureRingEventIdx) | feature_bit(kFeatureVersion1);
  if (config_.guest_mac) avail_features_ |= feature_bit(kFeatureMac);
  if (config_.mtu) avail_features_ |= feature_bit(kFeatureMtu);
  if (mmds_) {
    mmds_timer_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!mmds_timer_) throw Error(fmt::format("net '{}': timerfd_create: {}", config_.iface_id, std::strerror(errno)));
    mmds_scratch_.reserve(kMaxFrameLen);
  }
  if (loop_) {
    rx_timer_reg_ = EventRegistration(*loop_, rx_limiter_.timer_fd(), EPOLLIN, [this](uint32_t) { handle_rx_limiter_timer(); });
    tx_timer_reg_ = EventRegistration(*loop_, tx_limiter_.timer_fd(), EPOLLIN, [this](uint32_t) { handle_tx_limiter_timer(); });
    if (mmds_) mmds_timer_reg_ = EventRegistration(*loop_, mmds_timer_.get(), EPOLLIN, [this](uint32_t) { handle_mmds_timer(); });
    // Registered here, on the VMM thread, paused until the device runs (vCPU threads cannot epoll_ctl).
    tap_reg_ = EventRegistration(*loop_, backend_->fd(), 0, [this](uint32_t ev) { handle_tap_event(ev); });
    tap_registered_ = true;
  }
}

NetDevice::~NetDevice() {
  // Handlers go before the members they use.
  tap_reg_.reset();
  rx_timer_reg_.reset();
  tx_timer_reg_.reset();
  mmds_timer_reg_.reset();
}

uint32_t NetDevice::device_type() const { return kDeviceIdNet; }

void NetDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  std::array<uint8_t, kConfigSpaceLen> space{};
  if (config_.guest_mac) std::copy(config_.guest_mac->begin(), config_.guest_mac->end(), space.begin());
  space[6] = static_cast<uint8_t>(kStatusLinkUp);
  space[8] = 1;  // max_virtqueue_pairs (only meaningful with MQ, which is not offered)
  if (config_.mtu) {
    space[10] = static_cast<uint8_t>(*config_.mtu);
    space[11] = static_cast<uint8_t>(*config_.mtu >> 8);
  }
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < space.size() ? space[offset + i] : 0;
}

// The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (not offered): writes are ignored.
void NetDevice::write_config(uint64_t, std::span<const uint8_t>) {}

void NetDevice::activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                         uint64_t acked_features) {
  if (queues.size() != 2) throw Error("virtio-net activated with a queue count other than 2");
  memory_ = &memory;
  queues_ = queues;
  interrupt_ = &interrupt;
  acked_features_ = acked_features;
  used_pending_[0] = used_pending_[1] = false;
  activated_ = true;
  ++metrics_.activate_count;
  if (!loop_) {
    start_rx();
    return;
  }
  // This runs on a vCPU thread (the driver's status write), which may not make TAP ioctls or touch
  // epoll: the VMM thread sets the offloads and starts reading. Until then the TAP sends no GSO frames.
  loop_->post([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex());
      if (self->activated_) self->start_rx();
    }
  });
}

void NetDevice::start_rx() {
  try {
    backend_->set_offload(acked_features_);
  } catch (const Error& e) {
    SPDLOG_WARN("net '{}': {}; the guest gets frames without offloads", config_.iface_id, e.what());
  }
  // Frames may wait already, and a restored guest's rx ring is full without a kick to tell us.
  tap_watched_ = true;
  apply_tap_watch();
  if (!queues_[kRxQueue].broken()) process_rx();
}

void NetDevice::reset() {
  // vCPU thread: no epoll change here; the next TAP event (VMM thread) pauses the watch.
  tap_watched_ = false;
  activated_ = false;
  memory_ = nullptr;
  queues_ = {};
  interrupt_ = nullptr;
  acked_features_ = 0;
  used_pending_[0] = used_pending_[1] = false;
}

bool NetDevice::mergeable() const { return (acked_features_ & feature_bit(kFeatureMrgRxbuf)) != 0; }

void NetDevice::process_queue(uint16_t index) {
  if (!activated_ || index > kTxQueue || queues_[index].broken()) return;
  if (index == kRxQueue) {
    ++metrics_.rx_queue_event_count;
    process_rx();
  } else {
    ++metrics_.tx_queue_event_count;
    process_tx();
  }
}

void NetDevice::set_tap_watch(bool on) {
  if (!activated_) return;
  tap_watched_ = on;
  apply_tap_watch();
}

// VMM thread only (epoll_ctl): brings the registration in line with tap_watched_.
void NetDevice::apply_tap_watch() {
  if (!tap_registered_ || epoll_watching_ == tap_watched_) return;
  epoll_watching_ = tap_watched_;
  loop_->modify(backend_->fd(), epoll_watching_ ? uint32_t{EPOLLIN} : 0u);
}

// --- RX ---

NetDevice::Rx NetDevice::gather_rx(RxChains& out) {
  Queue& q = queues_[kRxQueue];
  size_t total = 0;
  const size_t max_chains = mergeable() ? kQueueSize : 1;
  while (total < kMaxBufferLen && out.heads.size() < max_chains) {
    auto popped = q.pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) {
      give_back(out, 0);
      queue_broken(kRxQueue, *err);
      return Rx::kStop;
    }
    auto& chain = std::get<std::optional<DescriptorChain>>(popped);
    if (!chain) {
      if (!out.heads.empty()) break;  // what we have may hold the frame; the read tells
      auto more = q.enable_notification(*memory_);
      if (auto* err = std::get_if<QueueError>(&more)) {
        queue_broken(kRxQueue, *err);
        return Rx::kStop;
      }
      if (std::get<bool>(more)) continue;
      return Rx::kNoBuffers;
    }
    // Rx buffers are device-writable only, and the first must hold the whole header.
    const bool bad = !chain->readable.empty() || (out.heads.empty() && chain->writable_len < kVnetHdrLen);
    auto iov = bad ? std::nullopt : to_iovecs(*memory_, chain->writable, IovDirection::kIntoGuest);
    if (!iov) {
      ++metrics_.rx_fails;
      if (!out.heads.empty()) {  // un-pop it with the others; the next gather refuses it first
        q.undo_pop();
        break;
      }
      if (!add_used(kRxQueue, chain->head, 0)) return Rx::kStop;
      continue;
    }
    if (out.iov.size() + iov->size() > IOV_MAX) {
      q.undo_pop();
      break;
    }
    out.heads.push_back(chain->head);
    out.lens.push_back(chain->writable_len);
    out.iov.insert(out.iov.end(), iov->begin(), iov->end());
    total += chain->writable_len;
  }
  return Rx::kDelivered;
}

void NetDevice::give_back(const RxChains& chains, size_t from) {
  for (size_t i = from; i < chains.heads.size(); ++i) queues_[kRxQueue].undo_pop();
}

bool NetDevice::complete_rx(const RxChains& chains, size_t written) {
  size_t left = written;
  size_t used = 0;
  while (used < chains.heads.size() && (left > 0 || used == 0)) {
    left -= std::min<size_t>(left, chains.lens[used]);
    ++used;
  }
  const uint16_t num_buffers = static_cast<uint16_t>(used);
  copy_into(chains.iov, kNumBuffersOffset, std::span(reinterpret_cast<const uint8_t*>(&num_buffers), 2));
  // Un-pop the unused chains first: add_used does not touch the avail index.
  give_back(chains, used);
  left = written;
  for (size_t i = 0; i < used; ++i) {
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(left, chains.lens[i]));
    left -= n;
    if (!add_used(kRxQueue, chains.heads[i], n)) return false;
  }
  ++metrics_.rx_packets_count;
  metrics_.rx_bytes_count += written - kVnetHdrLen;
  return true;
}

NetDevice::Rx NetDevice::read_tap_frame() {
  if (!rx_limiter_.consume(1, TokenType::kOps)) {
    ++metrics_.rx_rate_limiter_throttled;
    return Rx::kStop;  // the limiter's timer resumes us
  }
  RxChains chains;
  const Rx gathered = gather_rx(chains);
  if (gathered != Rx::kDelivered) {
    rx_limiter_.manual_replenish(1, TokenType::kOps);
    return gathered;
  }
  ssize_t n;
  do {
    n = ::readv(backend_->fd(), chains.iov.data(), static_cast<int>(chains.iov.size()));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    give_back(chains, 0);
    rx_limiter_.manual_replenish(1, TokenType::kOps);
    return Rx::kEmpty;
  }
  const int err = errno;
  if (n < static_cast<ssize_t>(kVnetHdrLen)) {
    // A frame too big for the buffers (the TAP drops it), or no header: nothing reached the guest.
    give_back(chains, 0);
    rx_limiter_.manual_replenish(1, TokenType::kOps);
    ++metrics_.rx_fails;
    if (n > 0) return Rx::kDropped;
    ++metrics_.tap_read_fails;
    if (n == 0 || err == EBADFD || err == EBADF || err == EIO || err == ENXIO) {
      drop_tap(n == 0 ? "end of file on the TAP" : fmt::format("TAP read failed: {}", std::strerror(err)));
      return Rx::kStop;
    }
    SPDLOG_DEBUG("net '{}': TAP read failed: {}", config_.iface_id, std::strerror(err));
    return Rx::kDropped;
  }
  if (!complete_rx(chains, static_cast<size_t>(n))) return Rx::kStop;
  // Bytes are charged after the read (the size is known only then): a frame may overdraw the bucket once.
  if (!rx_limiter_.consume(static_cast<uint64_t>(n), TokenType::kBytes)) {
    ++metrics_.rx_rate_limiter_throttled;
    return Rx::kStop;
  }
  return Rx::kDelivered;
}

NetDevice::Rx NetDevice::deliver_mmds_frame() {
  RxChains chains;
  const Rx gathered = gather_rx(chains);
  if (gathered != Rx::kDelivered) return gathered;
  const std::vector<uint8_t> frame = mmds_->pop_frame();
  const VirtioNetHdr hdr{};
  size_t n = copy_into(chains.iov, 0, std::span(reinterpret_cast<const uint8_t*>(&hdr), sizeof hdr));
  n += copy_into(chains.iov, kVnetHdrLen, frame);
  if (n != kVnetHdrLen + frame.size()) {
    ++metrics_.rx_fails;  // buffers too small for it: dropped, the stack retransmits
    give_back(chains, 0);
    return Rx::kDropped;
  }
  ++metrics_.mmds_frames_to_guest;
  return complete_rx(chains, n) ? Rx::kDelivered : Rx::kStop;
}

void NetDevice::process_rx() {
  // A bound on frames per call keeps one busy interface from starving the loop; epoll calls again.
  int budget = 256;
  for (; budget > 0; --budget) {
    const bool from_mmds = mmds_ && mmds_->has_frame();  // MMDS replies go ahead of TAP frames
    if (!from_mmds && tap_failed_) break;
    if (!from_mmds && rx_limiter_.is_blocked()) {
      set_tap_watch(false);
      break;
    }
    const Rx r = from_mmds ? deliver_mmds_frame() : read_tap_frame();
    if (r == Rx::kDelivered || r == Rx::kDropped) continue;
    if (r == Rx::kNoBuffers) {
      ++metrics_.no_rx_avail_buffer;
      set_tap_watch(false);  // until the guest kicks the rx queue
    } else if (r == Rx::kEmpty) {
      set_tap_watch(true);
    } else if (rx_limiter_.is_blocked()) {
      set_tap_watch(false);  // the limiter's timer resumes us
    }
    break;
  }
  // Out of budget with frames left: keep watching, the event loop calls again.
  if (budget == 0) set_tap_watch(!tap_failed_ && !rx_limiter_.is_blocked());
  signal_used(kRxQueue);
}

void NetDevice::drop_tap(std::string_view why) {
  // Stop listening rather than spin on a TAP that will not recover (interface deleted).
  SPDLOG_WARN("net '{}': {}; no more frames from the host", config_.iface_id, why);
  tap_reg_.reset();
  tap_registered_ = false;
  epoll_watching_ = false;
  tap_watched_ = false;
  tap_failed_ = true;
}

void NetDevice::handle_tap_event(uint32_t events) {
  std::lock_guard lock(mutex());
  ++metrics_.rx_tap_event_count;
  if (!activated_ || queues_[kRxQueue].broken() || !tap_watched_) {
    tap_watched_ = false;
    apply_tap_watch();  // after a reset or a broken queue: stop the wakeups
    return;
  }
  if (!(events & EPOLLIN) && (events & (EPOLLERR | EPOLLHUP))) {
    // The interface went away: stop listening rather than spin on the error.
    drop_tap("the TAP reported an error");
    return;
  }
  process_rx();
}

// --- TX ---

bool NetDevice::to_mmds(const DescriptorChain& chain) {
  uint8_t eth[kVnetHdrLen + 14];
  if (!copy_from_guest(*memory_, chain.readable, 0, eth)) return false;
  const uint16_t type = static_cast<uint16_t>(eth[kVnetHdrLen + 12] << 8 | eth[kVnetHdrLen + 13]);
  if (type != kEtherTypeArp && type != kEtherTypeIpv4) return false;
  mmds_scratch_.resize(chain.readable_len - kVnetHdrLen);  // <= kMaxFrameLen, checked by the caller
  if (!copy_from_guest(*memory_, chain.readable, kVnetHdrLen, mmds_scratch_)) return false;
  if (!mmds_->handle_guest_frame(mmds_scratch_, std::chrono::steady_clock::now())) return false;
  ++metrics_.mmds_frames_from_guest;
  return true;
}

bool NetDevice::send_frame(const DescriptorChain& chain) {
  auto iov = to_iovecs(*memory_, chain.readable, IovDirection::kFromGuest);
  if (!iov) {
    ++metrics_.tx_malformed_frames;
    return false;
  }
  ssize_t n;
  do {
    n = ::writev(backend_->fd(), iov->data(), static_cast<int>(iov->size()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // The TAP refused it (bad vnet header, interface down, queue full): dropped, as Firecracker does.
    ++metrics_.tap_write_fails;
    ++metrics_.tx_fails;
    SPDLOG_DEBUG("net '{}': TAP write failed: {}", config_.iface_id, std::strerror(errno));
    return false;
  }
  return true;
}

void NetDevice::process_tx() {
  Queue& q = queues_[kTxQueue];
  bool mmds_took = false;
  for (;;) {
    auto popped = q.pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) {
      signal_used(kTxQueue);
      queue_broken(kTxQueue, *err);
      return;
    }
    auto& chain = std::get<std::optional<DescriptorChain>>(popped);
    if (!chain) {
      auto more = q.enable_notification(*memory_);
      if (auto* err = std::get_if<QueueError>(&more)) {
        signal_used(kTxQueue);
        queue_broken(kTxQueue, *err);
        return;
      }
      if (std::get<bool>(more)) continue;
      break;
    }
    // A tx chain is device-readable only: header plus one frame of at most 64 KiB.
    if (!chain->writable.empty() || chain->readable_len < kVnetHdrLen || chain->readable_len > kMaxBufferLen) {
      ++metrics_.tx_malformed_frames;
      if (!add_used(kTxQueue, chain->head, 0)) return;
      continue;
    }
    if (!tx_limiter_.consume(1, TokenType::kOps)) {
      q.undo_pop();
      ++metrics_.tx_rate_limiter_throttled;
      break;
    }
    if (!tx_limiter_.consume(chain->readable_len, TokenType::kBytes)) {
      tx_limiter_.manual_replenish(1, TokenType::kOps);
      q.undo_pop();
      ++metrics_.tx_rate_limiter_throttled;
      break;
    }
    const bool for_mmds = mmds_ && to_mmds(*chain);
    mmds_took = mmds_took || for_mmds;
    if (for_mmds || send_frame(*chain)) {
      ++metrics_.tx_packets_count;
      metrics_.tx_bytes_count += chain->readable_len - kVnetHdrLen;
    }
    if (!add_used(kTxQueue, chain->head, 0)) return;
  }
  signal_used(kTxQueue);
  if (mmds_took) {
    arm_mmds_timer();
    if (!queues_[kRxQueue].broken()) process_rx();  // its replies
  }
}

// --- MMDS timer, rate limiter timers ---

void NetDevice::arm_mmds_timer() {
  if (!mmds_) return;
  itimerspec its{};
  if (auto deadline = mmds_->next_deadline()) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
    its.it_value.tv_sec = std::max<int64_t>(ns, 1) / 1'000'000'000;
    its.it_value.tv_nsec = std::max<int64_t>(ns, 1) % 1'000'000'000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  }
  ::timerfd_settime(mmds_timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr);  // zero disarms
}

void NetDevice::handle_mmds_timer() {
  std::lock_guard lock(mutex());
  uint64_t ticks;
  [[maybe_unused]] const ssize_t r = ::read(mmds_timer_.get(), &ticks, sizeof ticks);
  if (!mmds_) return;
  mmds_->poll(std::chrono::steady_clock::now());
  arm_mmds_timer();
  if (activated_ && !queues_[kRxQueue].broken()) process_rx();
}

void NetDevice::handle_rx_limiter_timer() {
  std::lock_guard lock(mutex());
  if (!rx_limiter_.on_timer()) return;
  if (!activated_ || queues_[kRxQueue].broken()) return;
  process_rx();
}

void NetDevice::handle_tx_limiter_timer() {
  std::lock_guard lock(mutex());
  if (!tx_limiter_.on_timer()) return;
  if (!activated_ || queues_[kTxQueue].broken()) return;
  process_tx();
}

void NetDevice::update_rate_limiters(const BucketUpdate& rx_bytes, const BucketUpdate& rx_ops,
                                     const BucketUpdate& tx_bytes, const BucketUpdate& tx_ops) {
  std::lock_guard lock(mutex());
  rx_limiter_.update_buckets(rx_bytes, rx_ops);
  tx_limiter_.update_buckets(tx_bytes, tx_ops);
}

void NetDevice::api_patch(std::string_view sub, const nlohmann::json& patch) {
  if (!sub.empty()) throw Error(fmt::format("network interface '{}' has no sub-resource '{}'", config_.iface_id, sub));
  auto limiter = [&](const char* key) -> std::pair<BucketUpdate, BucketUpdate> {
    if (!patch.contains(key) || patch[key].is_null()) return {BucketUpdate::keep(), BucketUpdate::keep()};
    const RateLimiterConfig rl = parse_rate_limiter(patch[key], key);
    return {bucket_update(rl.bandwidth), bucket_update(rl.ops)};
  };
  const auto rx = limiter("rx_rate_limiter");
  const auto tx = limiter("tx_rate_limiter");
  update_rate_limiters(rx.first, rx.second, tx.first, tx.second);
}

// --- used ring, errors ---

bool NetDevice::add_used(uint16_t queue, uint16_t head, uint32_t len) {
  if (auto err = queues_[queue].add_used(*memory_, head, len)) {
    signal_used(queue);
    queue_broken(queue, *err);
    return false;
  }
  used_pending_[queue] = true;
  return true;
}

void NetDevice::signal_used(uint16_t queue) {
  if (!used_pending_[queue] || !activated_) return;
  used_pending_[queue] = false;
  if (queues_[queue].needs_notification(*memory_)) interrupt_->signal_used_queue(queue);
}

void NetDevice::queue_broken(uint16_t queue, QueueError error) {
  ++metrics_.queue_errors;
  SPDLOG_WARN("net '{}': driver broke the {} queue ({}); device needs reset", config_.iface_id,
              queue == kRxQueue ? "rx" : "tx", to_string(error));
  if (queue == kRxQueue) set_tap_watch(false);
  interrupt_->signal_needs_reset();
}

// --- state, metrics ---

DeviceState NetDevice::save() const {
  std::lock_guard lock(mutex());
  const NetState s{config_.iface_id, config_.host_dev_name, config_.guest_mac ? format_mac(*config_.guest_mac) : "",
                   acked_features_, rx_limiter_.save(), tx_limiter_.save()};
  return DeviceState{std::string(kKind), config_.iface_id, kStateVersion, nlohmann::json(s)};
}

void NetDevice::restore(const DeviceState& state) {
  check_state_header(state, kKind, kStateVersion);
  NetState s;
  try {
    s = state.data.get<NetState>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{} '{}': saved state is malformed: {}", kKind, state.id, e.what()));
  }
  const std::string mac = config_.guest_mac ? format_mac(*config_.guest_mac) : "";
  if (s.iface_id != config_.iface_id || s.guest_mac != mac) {
    throw Error(fmt::format("{} '{}': saved state is for interface '{}' with MAC '{}', this one has MAC '{}'", kKind,
                            config_.iface_id, s.iface_id, s.guest_mac, mac));
  }
  std::lock_guard lock(mutex());
  rx_limiter_.restore(s.rx_rate_limiter);
  tx_limiter_.restore(s.tx_rate_limiter);
  // The transport re-activates the device with these features when it restores its own state.
  acked_features_ = s.acked_features;
}

void NetDevice::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  auto put = [&](const char* name, const std::atomic<uint64_t>& v) { export_counter(registry, prefix + name, v); };
  put("activate_count", metrics_.activate_count);
  put("rx_queue_event_count", metrics_.rx_queue_event_count);
  put("tx_queue_event_count", metrics_.tx_queue_event_count);
  put("rx_tap_event_count", metrics_.rx_tap_event_count);
  put("rx_bytes_count", metrics_.rx_bytes_count);
  put("rx_packets_count", metrics_.rx_packets_count);
  put("rx_fails", metrics_.rx_fails);
  put("no_rx_avail_buffer", metrics_.no_rx_avail_buffer);
  put("tx_bytes_count", metrics_.tx_bytes_count);
  put("tx_packets_count", metrics_.tx_packets_count);
  put("tx_fails", metrics_.tx_fails);
  put("tx_malformed_frames", metrics_.tx_malformed_frames);
  put("tap_read_fails", metrics_.tap_read_fails);
  put("tap_write_fails", metrics_.tap_write_fails);
  put("rx_rate_limiter_throttled", metrics_.rx_rate_limiter_throttled);
  put("tx_rate_limiter_throttled", metrics_.tx_rate_limiter_throttled);
  put("mmds_frames_to_guest", metrics_.mmds_frames_to_guest);
  put("mmds_frames_from_guest", metrics_.mmds_frames_from_guest);
  put("queue_errors", metrics_.queue_errors);
}

}  // namespace hearth::virtio::net
