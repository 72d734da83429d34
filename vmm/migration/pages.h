#pragma once
// Guest pages on the migration stream. A kPages payload: u32 run count, u32 zero, then runs
// {u64 guest address, u32 pages, u32 kind (0: data, 1: zero)}, then the data of the data runs in order.
// A zero run carries no bytes: the page is all zero (the source never touched it, or it reads as zero).
#include <cstdint>
#include <chrono>
#include <functional>
#include <vector>

#include "vmm/memory/guest_memory.h"
#include "vmm/migration/stream.h"

namespace hearth::migration {

inline constexpr uint64_t kPageSize = 4096;

// One bit per page and region, as KVM_GET_DIRTY_LOG.
using Bitmaps = std::vector<std::vector<uint64_t>>;
Bitmaps empty_bitmaps(const GuestMemory& memory);
Bitmaps full_bitmaps(const GuestMemory& memory);
uint64_t count_pages(const Bitmaps& bitmaps);
void merge_into(Bitmaps& into, const Bitmaps& from);

// Source: batches pages (up to kBatchPages of data per message), copies them out of guest memory (the
// guest may change them meanwhile: a copy taken after the dirty log was read is what the next round
// corrects) and sends each batch as one message, paced to `bandwidth_mib_s` (0: unpaced).
class PageSender {
 public:
  static constexpr uint32_t kBatchPages = 256;
  PageSender(Stream& stream, const GuestMemory& memory, uint32_t bandwidth_mib_s);
  void add(size_t region, uint64_t page, bool zero);
  void flush();
  uint64_t data_pages() const { return data_pages_; }
  uint64_t zero_pages() const { return zero_pages_; }
  uint64_t payload_bytes() const { return payload_bytes_; }
  // Sends every set page of `bitmaps`; with `skip_untouched`, pages the process never touched (or that
  // read as zero) go as zero runs.
  void send_bitmaps(const Bitmaps& bitmaps, bool skip_untouched);

 private:
  struct Run {
    uint64_t guest_addr;
    uint32_t pages;
    uint32_t kind;
  };
  void pace();

  Stream& stream_;
  const GuestMemory& memory_;
  uint64_t bytes_per_second_;
  std::vector<Run> runs_;
  std::vector<uint8_t> data_;
  uint32_t batch_data_pages_ = 0;
  uint64_t data_pages_ = 0, zero_pages_ = 0, payload_bytes_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Destination: where the pages of a batch go (plain copies before the VM runs; userfaultfd in post-copy).
struct PageSink {
  virtual ~PageSink() = default;
  virtual void data(uint64_t guest_addr, const uint8_t* bytes, uint64_t len) = 0;
  virtual void zero(uint64_t guest_addr, uint64_t len) = 0;
};

// Copies into memory; a zero run clears only pages an earlier batch wrote (the rest are untouched zero).
class MemoryPageSink final : public PageSink {
 public:
  explicit MemoryPageSink(const GuestMemory& memory) : memory_(memory), written_(empty_bitmaps(memory)) {}
  void data(uint64_t guest_addr, const uint8_t* bytes, uint64_t len) override;
  void zero(uint64_t guest_addr, uint64_t len) override;

 private:
  const GuestMemory& memory_;
  Bitmaps written_;
};

// Checks every run lies in guest RAM and the data adds up, then hands the pages to `sink`. Returns the
// number of pages. Throws Error naming the bad run.
uint64_t apply_page_batch(const Message& message, const GuestMemory& memory, PageSink& sink);

// The region index and page of `guest_addr`, or false when outside guest RAM.
bool locate_page(const GuestMemory& memory, uint64_t guest_addr, size_t& region, uint64_t& page);

}  // namespace hearth::migration
