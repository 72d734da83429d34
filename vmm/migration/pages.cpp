#include "vmm/migration/pages.h"

#include <bit>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/memory/touched_pages.h"

namespace hearth::migration {
namespace {

uint64_t pages_in(const GuestMemory::Region& r) { return (r.range.size + kPageSize - 1) / kPageSize; }

struct WireRun {
  uint64_t guest_addr;
  uint32_t pages;
  uint32_t kind;
};
static_assert(sizeof(WireRun) == 16);
constexpr uint32_t kData = 0, kZero = 1;

}  // namespace

Bitmaps empty_bitmaps(const GuestMemory& memory) {
  Bitmaps b;
  for (const auto& r : memory.regions()) b.emplace_back((pages_in(r) + 63) / 64, 0);
  return b;
}

Bitmaps full_bitmaps(const GuestMemory& memory) {
  Bitmaps b;
  for (const auto& r : memory.regions()) {
    const uint64_t pages = pages_in(r);
    auto& words = b.emplace_back((pages + 63) / 64, ~uint64_t{0});
    if (pages % 64) words.back() = (uint64_t{1} << (pages % 64)) - 1;
  }
  return b;
}

uint64_t count_pages(const Bitmaps& bitmaps) {
  uint64_t n = 0;
  for (const auto& words : bitmaps) {
    for (uint64_t w : words) n += static_cast<uint64_t>(std::popcount(w));
  }
  return n;
}

void merge_into(Bitmaps& into, const Bitmaps& from) {
  for (size_t r = 0; r < into.size() && r < from.size(); ++r) {
    for (size_t w = 0; w < into[r].size() && w < from[r].size(); ++w) into[r][w] |= from[r][w];
  }
}

bool locate_page(const GuestMemory& memory, uint64_t guest_addr, size_t& region, uint64_t& page) {
  const auto& regions = memory.regions();
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& r = regions[i].range;
    if (guest_addr >= r.start && guest_addr < r.end()) {
      region = i;
      page = (guest_addr - r.start) / kPageSize;
      return true;
    }
  }
  return false;
}

PageSender::PageSender(Stream& stream, const GuestMemory& memory, uint32_t bandwidth_mib_s)
    : stream_(stream), memory_(memory), bytes_per_second_(uint64_t{bandwidth_mib_s} << 20) {
  data_.reserve(kBatchPages * kPageSize);
}

void PageSender::add(size_t region, uint64_t page, bool zero) {
  const auto& r = memory_.regions()[region];
  const uint64_t addr = r.range.start + page * kPageSize;
  const uint32_t kind = zero ? kZero : kData;
  if (!runs_.empty() && runs_.back().kind == kind &&
      runs_.back().guest_addr + uint64_t{runs_.back().pages} * kPageSize == addr) {
    ++runs_.back().pages;
  } else {
    runs_.push_back({addr, 1, kind});
  }
  if (zero) {
    ++zero_pages_;
  } else {
    const uint8_t* src = r.mapping.data() + page * kPageSize;
    data_.insert(data_.end(), src, src + kPageSize);
    ++batch_data_pages_;
    ++data_pages_;
  }
  if (batch_data_pages_ >= kBatchPages || runs_.size() >= 4096) flush();
}

void PageSender::flush() {
  if (runs_.empty()) return;
  const uint32_t header[2] = {static_cast<uint32_t>(runs_.size()), 0};
  std::vector<WireRun> wire;
  wire.reserve(runs_.size());
  for (const auto& r : runs_) wire.push_back({r.guest_addr, r.pages, r.kind});
  const iovec parts[3] = {{const_cast<uint32_t*>(header), sizeof(header)},
                          {wire.data(), wire.size() * sizeof(WireRun)},
                          {data_.data(), data_.size()}};
  stream_.send(MsgType::kPages, parts);
  payload_bytes_ += sizeof(header) + wire.size() * sizeof(WireRun) + data_.size();
  runs_.clear();
  data_.clear();
  batch_data_pages_ = 0;
  pace();
}

void PageSender::pace() {
  if (bytes_per_second_ == 0) return;
  const auto due = started_ + std::chrono::microseconds(payload_bytes_ * 1000000 / bytes_per_second_);
  if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
}

void PageSender::send_bitmaps(const Bitmaps& bitmaps, bool skip_untouched) {
  const auto& regions = memory_.regions();
  for (size_t r = 0; r < regions.size() && r < bitmaps.size(); ++r) {
    const uint64_t pages = pages_in(regions[r]);
    const bool can_skip = skip_untouched && regions[r].untouched_reads_as_zero;
    std::unique_ptr<TouchedPages> touched = can_skip ? std::make_unique<TouchedPages>(regions[r].mapping.data()) : nullptr;
    for (uint64_t w = 0; w < bitmaps[r].size(); ++w) {
      for (uint64_t bits = bitmaps[r][w]; bits; bits &= bits - 1) {
        const uint64_t page = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
        if (page >= pages) break;
        bool zero = false;
        if (skip_untouched) {
          zero = (touched && !touched->touched(page)) ||
                 page_is_zero(regions[r].mapping.data() + page * kPageSize, kPageSize);
        }
        add(r, page, zero);
      }
    }
  }
  flush();
}

void MemoryPageSink::data(uint64_t guest_addr, const uint8_t* bytes, uint64_t len) {
  auto dst = memory_.slice(guest_addr, len);
  std::memcpy(dst->data(), bytes, len);
  size_t region = 0;
  uint64_t page = 0;
  if (!locate_page(memory_, guest_addr, region, page)) return;
  for (uint64_t p = page; p < page + len / kPageSize; ++p) written_[region][p / 64] |= uint64_t{1} << (p % 64);
}

void MemoryPageSink::zero(uint64_t guest_addr, uint64_t len) {
  size_t region = 0;
  uint64_t page = 0;
  if (!locate_page(memory_, guest_addr, region, page)) return;
  for (uint64_t p = page; p < page + len / kPageSize; ++p) {
    if (!((written_[region][p / 64] >> (p % 64)) & 1)) continue;
    std::memset(memory_.slice(guest_addr + (p - page) * kPageSize, kPageSize)->data(), 0, kPageSize);
  }
}

uint64_t apply_page_batch(const Message& message, const GuestMemory& memory, PageSink& sink) {
  const auto& p = message.payload;
  uint32_t count = 0;
  if (p.size() < 8) throw Error("migration stream: a page batch shorter than its header");
  std::memcpy(&count, p.data(), sizeof(count));
  const uint64_t table_end = 8 + uint64_t{count} * sizeof(WireRun);
  if (table_end > p.size()) {
    throw Error(fmt::format("migration stream: a page batch announces {} runs but has {} bytes", count, p.size()));
  }
  auto run_at = [&](uint32_t i) {
    WireRun run{};
    std::memcpy(&run, p.data() + 8 + uint64_t{i} * sizeof(WireRun), sizeof(run));
    return run;
  };
  // Everything is checked before anything is written: a refused batch changes nothing.
  uint64_t data_at = table_end, total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const WireRun run = run_at(i);
    const uint64_t len = uint64_t{run.pages} * kPageSize;
    if (run.pages == 0 || run.guest_addr % kPageSize != 0 || !memory.contains(run.guest_addr, len) ||
        (run.kind != kData && run.kind != kZero)) {
      throw Error(fmt::format("migration stream: page run {} ({} pages at {:#x}, kind {}) is not in guest RAM", i,
                              run.pages, run.guest_addr, run.kind));
    }
    if (run.kind == kData) {
      if (data_at + len > p.size()) {
        throw Error(fmt::format("migration stream: page run {} needs {} bytes past the end of its batch", i, len));
      }
      data_at += len;
    }
    total += run.pages;
  }
  if (data_at != p.size()) {
    throw Error(fmt::format("migration stream: a page batch has {} bytes beyond its runs", p.size() - data_at));
  }
  data_at = table_end;
  for (uint32_t i = 0; i < count; ++i) {
    const WireRun run = run_at(i);
    const uint64_t len = uint64_t{run.pages} * kPageSize;
    if (run.kind == kZero) {
      sink.zero(run.guest_addr, len);
    } else {
      sink.data(run.guest_addr, p.data() + data_at, len);
      data_at += len;
    }
  }
  return total;
}

}  // namespace hearth::migration
