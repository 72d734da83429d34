#include "virtio/blk/device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "virtio/blk/config_space.h"
#include "virtio/guest_iov.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"
#include "vmm/base/host_file.h"

namespace hearth::virtio::blk {
namespace {

// Zero-fill fallback for WRITE_ZEROES when the file system cannot zero a range in place.
int write_zeroes_by_hand(int fd, uint64_t offset, uint64_t len) {
  static const std::array<uint8_t, 64 * 1024> kZeroes{};
  while (len > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, kZeroes.size()));
    ssize_t n = ::pwrite(fd, kZeroes.data(), chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    offset += static_cast<uint64_t>(n);
    len -= static_cast<uint64_t>(n);
  }
  return 0;
}

int punch_hole(int fd, uint64_t offset, uint64_t len) {
  return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(len)) < 0
             ? -errno
             : 0;
}

}  // namespace

BlkDevice::BlkDevice(const DriveConfig& config, EventLoop* loop, std::shared_ptr<const Clock> clock)
    : config_(config),
      clock_(std::move(clock)),
      limiter_(config.rate_limiter.value_or(RateLimiterConfig{}), clock_) {
  open_backing(config_.path_on_host);
  const size_t id_len = std::min<size_t>(config_.drive_id.size(), kIdBytes);
  std::memcpy(id_.data(), config_.drive_id.data(), id_len);  // rest stays NUL

  avail_features_ = feature_bit(kFeatureVersion1) | feature_bit(kFeatureRingEventIdx) |
                    feature_bit(kFeatureRingIndirectDesc) | feature_bit(kFeatureSegMax);
  if (config_.cache_type == CacheType::kWriteback) avail_features_ |= feature_bit(kFeatureFlush);
  if (config_.is_read_only) {
    avail_features_ |= feature_bit(kFeatureRo);
  } else {
    avail_features_ |= feature_bit(kFeatureDiscard) | feature_bit(kFeatureWriteZeroes);
  }

  try {
    engine_ = make_io_engine(config_.io_engine, kQueueSize);
  } catch (const Error& e) {
    throw Error(fmt::format("drive '{}': {}", config_.drive_id, e.what()));
  }
  if (loop) {
    if (engine_->completion_fd() >= 0) {
      completion_reg_ = EventRegistration(*loop, engine_->completion_fd(), EPOLLIN,
                                          [this](uint32_t) { handle_io_completions(); });
    }
    timer_reg_ = EventRegistration(*loop, limiter_.timer_fd(), EPOLLIN, [this](uint32_t) { handle_rate_limiter_timer(); });
  }
}

BlkDevice::~BlkDevice() {
  completion_reg_.reset();
  timer_reg_.reset();
  if (engine_) engine_->drain();  // the kernel must stop writing guest memory before we go
}

void BlkDevice::open_backing(const std::string& path) {
  // A FIFO, directory or character device (/dev/zero, /dev/kvm) is no disk; the open never blocks.
  HostFileRules rules;
  rules.kinds = kRegularFile | kBlockDevice;
  rules.access = config_.is_read_only ? O_RDONLY : O_RDWR;
  HostFile backing = open_host_file(path, fmt::format("drive '{}': path_on_host", config_.drive_id), rules);
  UniqueFd fd = std::move(backing.fd);
  const uint64_t bytes = backing.size;
  if (bytes % kSectorSize) {
    // As Firecracker: the partial last sector is simply not visible to the guest.
    SPDLOG_WARN("drive '{}': size {} of '{}' is not a multiple of {}; the last {} bytes are not visible",
                 config_.drive_id, bytes, path, kSectorSize, bytes % kSectorSize);
  }
  file_ = std::move(fd);
  capacity_sectors_ = bytes >> kSectorShift;
  config_.path_on_host = path;
}

uint32_t BlkDevice::device_type() const { return kDeviceIdBlock; }

DiskGeometry BlkDevice::geometry() const {
  return DiskGeometry{capacity_sectors_, config_.is_read_only, (avail_features_ & feature_bit(kFeatureDiscard)) != 0};
}

void BlkDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  const auto space = make_config_space(capacity_sectors_);
  if (offset >= space.size()) return;
  const size_t n = std::min<size_t>(data.size(), space.size() - offset);
  std::memcpy(data.data(), space.data() + offset, n);
}

void BlkDevice::write_config(uint64_t, std::span<const uint8_t>) {
  // Nothing is writable: CONFIG_WCE is not offered, so the writeback field is read-only.
}

void BlkDevice::activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                         uint64_t acked_features) {
  if (queues.size() != 1) throw Error("virtio-blk activated with a queue count other than 1");
  memory_ = &memory;
  queue_ = &queues[0];
  interrupt_ = &interrupt;
  acked_features_ = acked_features;
  activated_ = true;
}

void BlkDevice::reset() {
  // In-flight I/O must land before the rings go away; its results are discarded with them.
  engine_->drain();
  pending_.clear();
  activated_ = false;
  memory_ = nullptr;
  queue_ = nullptr;
  interrupt_ = nullptr;
  acked_features_ = 0;
}

bool BlkDevice::rate_limit(const Request& req) {
  if (!limiter_.consume(1, TokenType::kOps)) return false;
  if ((req.type == kTypeIn || req.type == kTypeOut) && !limiter_.consume(req.data_len, TokenType::kBytes)) {
    limiter_.manual_replenish(1, TokenType::kOps);
    return false;
  }
  return true;
}

void BlkDevice::process_queue(uint16_t index) {
  if (!activated_ || index != 0 || queue_->broken()) return;
  for (;;) {
    if (limiter_.is_blocked()) break;  // the timer handler resumes us
    if (!engine_->has_room()) {        // a completion resumes us
      ++metrics_.throttled;
      break;
    }
    auto popped = queue_->pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) return queue_broken(*err);
    auto& chain = std::get<std::optional<DescriptorChain>>(popped);
    if (!chain) {
      auto more = queue_->enable_notification(*memory_);
      if (auto* err = std::get_if<QueueError>(&more)) return queue_broken(*err);
      if (std::get<bool>(more)) continue;
      break;
    }
    auto parsed = parse_request(*memory_, *chain, geometry());
    if (auto* rej = std::get_if<Rejection>(&parsed)) {
      finish(chain->head, rej->status_addr, rej->status, 0);
      continue;
    }
    auto& req = std::get<Request>(parsed);
    if (!rate_limit(req)) {
      queue_->undo_pop();  // the same chain is popped again when the limiter's timer fires
      ++metrics_.throttled;
      break;
    }
    execute(chain->head, req);
  }
  signal_used();
}

bool BlkDevice::execute(uint16_t head, Request& req) {
  IoOp op;
  switch (req.type) {
    case kTypeIn:
    case kTypeOut: {
      auto iov = to_iovecs(*memory_, req.data, req.type == kTypeIn ? IovDirection::kIntoGuest : IovDirection::kFromGuest);
      if (!iov) {
        finish(head, req.status_addr, kStatusIoErr, 0);
        return true;
      }
      op.kind = req.type == kTypeIn ? IoOp::Kind::kRead : IoOp::Kind::kWrite;
      op.offset = req.sector << kSectorShift;  // in range: sector + len <= capacity
      op.iov = std::move(*iov);
      break;
    }
    case kTypeFlush:
      // Unsafe cache: the host page cache is the disk, so there is nothing to wait for.
      if (config_.cache_type != CacheType::kWriteback) {
        ++metrics_.flush_count;
        finish(head, req.status_addr, kStatusOk, 0);
        return true;
      }
      op.kind = IoOp::Kind::kFlush;
      break;
    case kTypeGetId: {
      const bool ok = copy_to_guest(*memory_, req.data, 0, id_);
      finish(head, req.status_addr, ok ? kStatusOk : kStatusIoErr, ok ? kIdBytes : 0);
      return true;
    }
    default:  // DISCARD, WRITE_ZEROES: quick metadata operations, done inline
      finish(head, req.status_addr, run_discard(req), 0);
      return true;
  }
  op.fd = file_.get();
  op.tag = next_tag_++;
  // IN buffers are kept so their pages are marked dirty again once the kernel has written them: a
  // dirty-log read between submit and completion must not miss them.
  pending_.emplace(op.tag, PendingIo{head, req.status_addr, req.type, req.data_len,
                                     req.type == kTypeIn ? std::move(req.data) : std::vector<GuestBuffer>{}});
  if (auto done = engine_->submit(std::move(op))) {
    complete_io(*done);
    return true;
  }
  return false;
}

uint8_t BlkDevice::run_discard(const Request& req) {
  ++metrics_.discard_count;
  for (const auto& seg : req.segments) {
    const uint64_t offset = seg.sector << kSectorShift;
    const uint64_t len = uint64_t{seg.num_sectors} << kSectorShift;
    if (len == 0) continue;
    int rc;
    if (req.type == kTypeDiscard) {
      rc = punch_hole(file_.get(), offset, len);
      if (rc == -EOPNOTSUPP) rc = 0;  // discard is only a hint
    } else if (seg.flags & kWriteZeroesFlagUnmap) {
      rc = punch_hole(file_.get(), offset, len);  // holes read back as zeroes
      if (rc == -EOPNOTSUPP) rc = write_zeroes_by_hand(file_.get(), offset, len);
    } else {
      rc = ::fallocate(file_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(len)) < 0
               ? -errno
               : 0;
      if (rc == -EOPNOTSUPP) rc = write_zeroes_by_hand(file_.get(), offset, len);
    }
    if (rc < 0) return kStatusIoErr;
  }
  return kStatusOk;
}

void BlkDevice::complete_io(const IoCompletion& c) {
  auto it = pending_.find(c.tag);
  if (it == pending_.end()) return;
  const PendingIo p = std::move(it->second);
  pending_.erase(it);
  if (p.type == kTypeIn) mark_dirty(*memory_, p.into_guest);
  const bool ok = p.type == kTypeFlush ? c.result == 0 : c.result == static_cast<int64_t>(p.data_len);
  switch (p.type) {
    case kTypeIn:
      if (ok) ++metrics_.read_count;
      metrics_.read_bytes += c.result > 0 ? static_cast<uint64_t>(c.result) : 0;
      break;
    case kTypeOut:
      if (ok) ++metrics_.write_count;
      metrics_.write_bytes += c.result > 0 ? static_cast<uint64_t>(c.result) : 0;
      break;
    default: ++metrics_.flush_count; break;
  }
  finish(p.head, p.status_addr, ok ? kStatusOk : kStatusIoErr, ok && p.type == kTypeIn ? p.data_len : 0);
}

void BlkDevice::finish(uint16_t head, std::optional<uint64_t> status_addr, uint8_t status, uint32_t data_len) {
  ++metrics_.requests;
  if (status != kStatusOk || !status_addr) ++metrics_.errors;
  if (queue_->broken()) return;  // the driver must reset; nothing more goes into its rings
  uint32_t used_len = 0;
  // Without a writable status byte the chain goes back unanswered (length 0), as the spec allows.
  if (status_addr && memory_->try_write_obj(*status_addr, status)) used_len = data_len + 1;
  if (auto err = queue_->add_used(*memory_, head, used_len)) return queue_broken(*err);
  used_pending_signal_ = true;
}

void BlkDevice::signal_used() {
  if (!used_pending_signal_ || !activated_) return;
  used_pending_signal_ = false;
  if (queue_->needs_notification(*memory_)) interrupt_->signal_used_queue(0);
}

void BlkDevice::queue_broken(QueueError error) {
  // Called once per break: afterwards the queue reports broken() and nothing touches it.
  ++metrics_.queue_errors;
  SPDLOG_WARN("drive '{}': driver broke the virtqueue ({}); device needs reset", config_.drive_id, to_string(error));
  interrupt_->signal_needs_reset();
}

void BlkDevice::handle_io_completions() {
  std::lock_guard lock(mutex());
  auto done = engine_->reap();
  if (!activated_) return;  // reset drained and dropped them already
  for (const auto& c : done) complete_io(c);
  signal_used();
  process_queue(0);  // resume if we stopped on a full ring
}

void BlkDevice::handle_rate_limiter_timer() {
  std::lock_guard lock(mutex());
  if (!limiter_.on_timer()) return;
  process_queue(0);
}

void BlkDevice::drain_and_complete() {
  auto done = engine_->drain();
  if (!activated_) {
    pending_.clear();
    return;
  }
  for (const auto& c : done) complete_io(c);
  signal_used();
}

void BlkDevice::update_backing_file(const std::string& path) {
  std::lock_guard lock(mutex());
  drain_and_complete();  // finish I/O against the old file first
  open_backing(path);    // throws, leaving the old file in place, if the new one is unusable
  if (activated_) interrupt_->signal_config();
}

void BlkDevice::update_rate_limiter(const BucketUpdate& bytes, const BucketUpdate& ops) {
  std::lock_guard lock(mutex());
  limiter_.update_buckets(bytes, ops);
}

void BlkDevice::prepare_save() {
  std::lock_guard lock(mutex());
  drain_and_complete();
}

BlkState BlkDevice::save_blk_state() const {
  std::lock_guard lock(mutex());
  return BlkState{config_.drive_id, config_.path_on_host, config_.is_read_only, config_.cache_type,
                  config_.io_engine, capacity_sectors_,    acked_features_,     limiter_.save()};
}

void BlkDevice::restore_blk_state(const BlkState& state) {
  std::lock_guard lock(mutex());
  if (state.capacity_sectors != capacity_sectors_) {
    throw Error(fmt::format("drive '{}': backing file has {} sectors, the snapshot expects {}", config_.drive_id,
                            capacity_sectors_, state.capacity_sectors));
  }
  limiter_.restore(state.rate_limiter);
}

namespace {
constexpr uint32_t kBlkStateVersion = 1;
}  // namespace

DeviceState BlkDevice::save() const { return DeviceState{"virtio-blk", config_.drive_id, kBlkStateVersion, save_blk_state()}; }

void BlkDevice::restore(const DeviceState& state) {
  check_state_header(state, "virtio-blk", kBlkStateVersion);
  BlkState blk;
  try {
    blk = state.data.get<BlkState>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("virtio-blk '{}': malformed state: {}", config_.drive_id, e.what()));
  }
  restore_blk_state(blk);
}

void BlkDevice::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  const std::pair<const char*, const std::atomic<uint64_t>*> counters[] = {
      {"requests", &metrics_.requests},       {"read_count", &metrics_.read_count},
      {"write_count", &metrics_.write_count}, {"flush_count", &metrics_.flush_count},
      {"discard_count", &metrics_.discard_count}, {"read_bytes", &metrics_.read_bytes},
      {"write_bytes", &metrics_.write_bytes}, {"errors", &metrics_.errors},
      {"throttled", &metrics_.throttled},     {"queue_errors", &metrics_.queue_errors},
  };
  for (const auto& [name, value] : counters) export_counter(registry, prefix + name, value->load());
}

}  // namespace hearth::virtio::blk
