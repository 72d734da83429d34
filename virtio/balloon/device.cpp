#include "virtio/balloon/device.h"

#include <sys/timerfd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"

namespace hearth::virtio::balloon {
namespace {

constexpr const char* kStatNames[kStatTagCount] = {
    "swap_in",      "swap_out",        "major_faults", "minor_faults",        "free_memory",
    "total_memory", "available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures"};

}  // namespace

BalloonDevice::BalloonDevice(const BalloonConfig& config, EventLoop* loop) : config_(config) {
  avail_features_ = feature_bit(kFeatureVersion1);
  if (config_.stats_polling_interval_s > 0) avail_features_ |= feature_bit(kFeatureStatsVq);
  if (config_.deflate_on_oom) avail_features_ |= feature_bit(kFeatureDeflateOnOom);
  if (config_.free_page_reporting) avail_features_ |= feature_bit(kFeatureFreePageReporting);
  num_pages_ = config_.amount_mib * kPagesPerMib;
  if (config_.stats_polling_interval_s > 0) {
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_) throw_errno("balloon statistics timerfd_create");
    if (loop) timer_reg_ = EventRegistration(*loop, timer_.get(), EPOLLIN, [this](uint32_t) { handle_stats_timer(); });
    arm_timer();
  }
}

BalloonDevice::~BalloonDevice() { timer_reg_.reset(); }

std::optional<uint16_t> BalloonDevice::stats_queue() const {
  if (config_.stats_polling_interval_s == 0) return std::nullopt;
  return uint16_t{2};
}

std::optional<uint16_t> BalloonDevice::reporting_queue() const {
  if (!config_.free_page_reporting) return std::nullopt;
  return static_cast<uint16_t>(stats_queue() ? 3 : 2);
}

std::vector<uint16_t> BalloonDevice::queue_max_sizes() const {
  std::vector<uint16_t> sizes{kQueueSize, kQueueSize};
  if (stats_queue()) sizes.push_back(kQueueSize);
  if (reporting_queue()) sizes.push_back(kQueueSize);
  return sizes;
}

void BalloonDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t space[8];
  std::memcpy(space, &num_pages_, 4);
  std::memcpy(space + 4, &actual_, 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof(space) ? space[offset + i] : 0;
}

void BalloonDevice::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // Only `actual` is the driver's to write; a partial write updates the bytes it covers.
  uint8_t bytes[4];
  std::memcpy(bytes, &actual_, 4);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i >= 4 && offset + i < 8) bytes[offset + i - 4] = data[i];
  }
  std::memcpy(&actual_, bytes, 4);
}

void BalloonDevice::activate(const GuestMemory& memory, std::span<Queue> queues, VirtioInterrupt& interrupt,
                             uint64_t acked_features) {
  if (queues.size() != queue_max_sizes().size()) throw Error("virtio-balloon activated with the wrong queue count");
  memory_ = &memory;
  queues_ = queues;
  interrupt_ = &interrupt;
  acked_features_ = acked_features;
  activated_ = true;
  ++metrics_.activate_count;
}

void BalloonDevice::reset() {
  activated_ = false;
  memory_ = nullptr;
  queues_ = {};
  interrupt_ = nullptr;
  acked_features_ = 0;
  actual_ = 0;
  stats_head_.reset();
}

// The timer runs from construction on: activate() and reset() run on vCPU threads, whose seccomp filter
// has no timerfd_settime; the handler does nothing while no driver is there.
void BalloonDevice::arm_timer() {
  if (!timer_) return;
  const time_t s = config_.stats_polling_interval_s;
  const itimerspec spec{{s, 0}, {s, 0}};
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) SPDLOG_WARN("virtio-balloon: timerfd_settime failed");
}

void BalloonDevice::process_queue(uint16_t index) {
  if (!activated_ || index >= queues_.size() || queues_[index].broken()) return;
  drain(index);
}

void BalloonDevice::drain(uint16_t index) {
  Queue& q = queues_[index];
  bool used = false;
  for (;;) {
    auto popped = q.pop(*memory_);
    if (auto* err = std::get_if<QueueError>(&popped)) {
      if (used) signal_used(index);
      return queue_broken(*err);
    }
    auto& chain = std::get<std::optional<DescriptorChain>>(popped);
    if (!chain) break;
    if (index == stats_queue()) {
      // The driver hands one buffer and waits; a second one returns the first (it was not asked for).
      if (stats_head_ && !complete(index, *stats_head_, 0)) return;
      stats_head_ = chain->head;
      auto bytes = gather(*chain, kMaxStatsBytes, false);
      auto stats = bytes ? parse_stats(*bytes) : std::nullopt;
      if (stats) {
        stats_ = *stats;
        ++metrics_.stats_updates_count;
      } else {
        ++metrics_.stats_update_fails;
      }
      used = true;  // only when an older buffer went back, but a spare check costs nothing
      continue;
    }
    handle_chain(index, *chain);
    if (!complete(index, chain->head, 0)) return;
    used = true;
  }
  if (used) signal_used(index);
}

void BalloonDevice::handle_chain(uint16_t index, const DescriptorChain& chain) {
  if (index == kInflateQueue || index == kDeflateQueue) {
    (index == kInflateQueue ? metrics_.inflate_count : metrics_.deflate_count)++;
    if (!chain.writable.empty() || chain.readable_len > kMaxPfnBytes) ++metrics_.event_fails;
    // Deflate needs no host work: a page the guest takes back faults in as a fresh zero page.
    if (index == kDeflateQueue) return;
    if (auto bytes = gather(chain, kMaxPfnBytes, true)) discard_pfns(*bytes);
    return;
  }
  if (index == reporting_queue()) {
    ++metrics_.reporting_count;
    // Linux reports each free block as one device-writable buffer; every buffer lies inside guest RAM
    // (the chain reader checked), so only its alignment is ours to fix.
    for (const auto* list : {&chain.writable, &chain.readable}) {
      for (const GuestBuffer& b : *list) {
        const GuestRange r = reported_pages(b.addr, b.len);
        if (r.size > 0) metrics_.discarded_bytes += memory_->discard(r.start, r.size);
      }
    }
  }
}

std::optional<std::vector<uint8_t>> BalloonDevice::gather(const DescriptorChain& chain, uint32_t cap,
                                                          bool truncate) const {
  if (chain.readable_len > cap && !truncate) return std::nullopt;
  // Bounded work for a hostile chain: at most `cap` bytes are read.
  std::vector<uint8_t> out;
  for (const GuestBuffer& b : chain.readable) {
    if (out.size() >= cap) break;
    const uint32_t take = std::min<uint32_t>(b.len, cap - static_cast<uint32_t>(out.size()));
    auto v = memory_->view(b.addr, take);
    if (!v) return std::nullopt;
    out.insert(out.end(), v->begin(), v->end());
  }
  return out;
}

void BalloonDevice::discard_pfns(std::span<const uint8_t> bytes) {
  for (const GuestRange& r : pfn_ranges(bytes)) metrics_.discarded_bytes += discard_range(r);
}

uint64_t BalloonDevice::discard_range(GuestRange range) {
  // Only the parts inside guest RAM regions; anything else is counted and left alone.
  uint64_t inside = 0, done = 0;
  for (const auto& region : memory_->regions()) {
    const uint64_t lo = std::max(range.start, region.range.start);
    const uint64_t hi = std::min(range.end(), region.range.end());
    if (lo >= hi) continue;
    inside += hi - lo;
    done += memory_->discard(lo, hi - lo);
  }
  metrics_.invalid_pfns += (range.size - inside) / kPageSize;
  return done;
}

bool BalloonDevice::complete(uint16_t index, uint16_t head, uint32_t len) {
  if (auto err = queues_[index].add_used(*memory_, head, len)) {
    signal_used(index);
    queue_broken(*err);
    return false;
  }
  return true;
}

void BalloonDevice::signal_used(uint16_t index) {
  if (activated_ && queues_[index].needs_notification(*memory_)) interrupt_->signal_used_queue(index);
}

void BalloonDevice::queue_broken(QueueError error) {
  ++metrics_.queue_errors;
  SPDLOG_WARN("virtio-balloon: driver broke a virtqueue ({}); device needs reset", to_string(error));
  interrupt_->signal_needs_reset();
}

void BalloonDevice::handle_stats_timer() {
  std::lock_guard lock(mutex());
  uint64_t expirations = 0;
  if (::read(timer_.get(), &expirations, sizeof(expirations)) < 0) return;
  const auto index = stats_queue();
  if (!activated_ || !index || !stats_head_ || queues_[*index].broken()) return;
  // Giving the buffer back is the request for fresh statistics.
  const uint16_t head = *stats_head_;
  stats_head_.reset();
  if (complete(*index, head, 0)) signal_used(*index);
}

void BalloonDevice::set_target(uint32_t amount_mib) {
  if (memory_ != nullptr && uint64_t{amount_mib} << 20 > memory_->total_size()) {
    throw Error(fmt::format("balloon.amount_mib: {} MiB is more than the guest's {} MiB of memory", amount_mib,
                            memory_->total_size() >> 20));
  }
  config_.amount_mib = amount_mib;
  num_pages_ = amount_mib * kPagesPerMib;
  if (activated_) interrupt_->signal_config();
}

void BalloonDevice::api_patch(std::string_view sub, const nlohmann::json& patch) {
  std::lock_guard lock(mutex());
  if (sub.empty()) return set_target(patch.at("amount_mib").get<uint32_t>());
  if (sub == "statistics") {
    const auto interval = patch.at("stats_polling_interval_s").get<uint16_t>();
    if ((interval == 0) != (config_.stats_polling_interval_s == 0)) {
      throw Error("balloon/statistics.stats_polling_interval_s: statistics cannot be enabled or disabled after boot");
    }
    config_.stats_polling_interval_s = interval;
    arm_timer();
    return;
  }
  Device::api_patch(sub, patch);
}

nlohmann::json BalloonDevice::api_get(std::string_view sub) const {
  std::lock_guard lock(mutex());
  if (sub.empty()) {
    return {{"amount_mib", config_.amount_mib},
            {"deflate_on_oom", config_.deflate_on_oom},
            {"stats_polling_interval_s", config_.stats_polling_interval_s},
            {"free_page_hinting", false},
            {"free_page_reporting", config_.free_page_reporting}};
  }
  if (sub == "statistics") {
    if (config_.stats_polling_interval_s == 0) throw Error("balloon/statistics: statistics are not enabled");
    nlohmann::json j{{"target_pages", num_pages_},
                     {"actual_pages", actual_},
                     {"target_mib", num_pages_ / kPagesPerMib},
                     {"actual_mib", actual_ / kPagesPerMib}};
    if (stats_) {
      for (uint16_t tag = 0; tag < kStatTagCount; ++tag) {
        if (stats_->values[tag]) j[kStatNames[tag]] = *stats_->values[tag];
      }
    }
    return j;
  }
  return Device::api_get(sub);
}

DeviceState BalloonDevice::save() const {
  std::lock_guard lock(mutex());
  BalloonState s{acked_features_, num_pages_, actual_, config_.stats_polling_interval_s, stats_head_,
                 stats_.value_or(BalloonStats{})};
  return DeviceState{std::string(kKind), std::string(), kStateVersion, nlohmann::json(s)};
}

void BalloonDevice::restore(const DeviceState& state) {
  check_state_header(state, kKind, kStateVersion);
  BalloonState s;
  try {
    s = state.data.get<BalloonState>();
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: saved state is malformed: {}", kKind, e.what()));
  }
  std::lock_guard lock(mutex());
  if ((s.stats_polling_interval_s == 0) != (config_.stats_polling_interval_s == 0)) {
    throw Error(fmt::format("{}: saved state has statistics {}, the configuration does not", kKind,
                            s.stats_polling_interval_s ? "enabled" : "disabled"));
  }
  acked_features_ = s.acked_features;
  num_pages_ = s.num_pages;
  config_.amount_mib = s.num_pages / kPagesPerMib;
  actual_ = s.actual;
  config_.stats_polling_interval_s = s.stats_polling_interval_s;
  stats_head_ = s.stats_head;
  stats_ = s.stats;
  arm_timer();
  // The transport re-activates the device when it restores its own state.
}

void BalloonDevice::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  export_counter(registry, prefix + "activate_count", metrics_.activate_count);
  export_counter(registry, prefix + "inflate_count", metrics_.inflate_count);
  export_counter(registry, prefix + "deflate_count", metrics_.deflate_count);
  export_counter(registry, prefix + "reporting_count", metrics_.reporting_count);
  export_counter(registry, prefix + "stats_updates_count", metrics_.stats_updates_count);
  export_counter(registry, prefix + "stats_update_fails", metrics_.stats_update_fails);
  export_counter(registry, prefix + "discarded_bytes", metrics_.discarded_bytes);
  export_counter(registry, prefix + "invalid_pfns", metrics_.invalid_pfns);
  export_counter(registry, prefix + "event_fails", metrics_.event_fails);
  export_counter(registry, prefix + "queue_errors", metrics_.queue_errors);
}

}  // namespace hearth::virtio::balloon
