#pragma once
// The destination's side of post-copy: guest memory is registered with userfaultfd; a vCPU (or the VMM)
// touching a page the source still holds waits while this asks the source for it; pages arriving from
// the source (asked for, or pushed) are placed with UFFDIO_COPY, which wakes the waiters.
#include <atomic>
#include <thread>

#include "vmm/base/eventfd.h"
#include "vmm/base/fd.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/migration/pages.h"
#include "vmm/migration/stream.h"

namespace hearth::migration {

class Postcopy final : public PageSink {
 public:
  // `missing`: the pages the source still holds. Drops their stale copies here, registers memory and
  // starts serving faults. Throws Error when userfaultfd is not available.
  Postcopy(const GuestMemory& memory, Stream& stream, Bitmaps missing);
  ~Postcopy() override;
  // Received pages (the receive thread).
  void data(uint64_t guest_addr, const uint8_t* bytes, uint64_t len) override;
  void zero(uint64_t guest_addr, uint64_t len) override;
  // Every page is here: stop catching faults.
  void finish();
  uint64_t requested() const { return requested_; }
  uint64_t missing() const;

 private:
  void serve_faults();
  void on_fault(uint64_t host_addr);
  bool test_and_clear(std::vector<std::unique_ptr<std::atomic<uint64_t>[]>>& bits, size_t region, uint64_t page);

  const GuestMemory& memory_;
  Stream& stream_;
  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> missing_;    // bit set: still on the source
  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> requested_bits_;
  std::vector<uint64_t> words_;  // per region
  std::atomic<uint64_t> requested_{0};
  UniqueFd uffd_;
  EventFd stop_;
  std::thread faults_;
};

}  // namespace hearth::migration
