#include "vmm/migration/postcopy.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/memory/uffd.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::migration {
namespace {

bool bit(const std::atomic<uint64_t>* words, uint64_t page) {
  return (words[page / 64].load(std::memory_order_acquire) >> (page % 64)) & 1;
}

}  // namespace

Postcopy::Postcopy(const GuestMemory& memory, Stream& stream, Bitmaps missing) : memory_(memory), stream_(stream) {
  const auto& regions = memory.regions();
  for (size_t r = 0; r < regions.size(); ++r) {
    const uint64_t words = r < missing.size() ? missing[r].size() : 0;
    words_.push_back(words);
    missing_.push_back(std::make_unique<std::atomic<uint64_t>[]>(words));
    requested_bits_.push_back(std::make_unique<std::atomic<uint64_t>[]>(words));
    for (uint64_t w = 0; w < words; ++w) {
      missing_[r][w].store(missing[r][w]);
      // What the source still holds is stale here: drop it, so the first touch faults.
      for (uint64_t bits = missing[r][w]; bits; bits &= bits - 1) {
        const uint64_t page = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
        if (page * kPageSize >= regions[r].range.size) break;
        ::madvise(regions[r].mapping.data() + page * kPageSize, kPageSize, MADV_DONTNEED);
      }
    }
  }
  uffd_ = register_guest_memory(memory);
  faults_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "hearth_mig_uffd");
    seccomp::install_thread_filter(seccomp::ThreadKind::kMigration);
    serve_faults();
  });
}

Postcopy::~Postcopy() { finish(); }

void Postcopy::finish() {
  stop_.signal();
  if (faults_.joinable()) faults_.join();
  // Closing the uffd unregisters the memory: a fault still waiting is retried as an ordinary one.
  uffd_.reset();
}

uint64_t Postcopy::missing() const {
  uint64_t n = 0;
  for (size_t r = 0; r < missing_.size(); ++r) {
    for (uint64_t w = 0; w < words_[r]; ++w) n += static_cast<uint64_t>(std::popcount(missing_[r][w].load()));
  }
  return n;
}

bool Postcopy::test_and_clear(std::vector<std::unique_ptr<std::atomic<uint64_t>[]>>& bits, size_t region,
                              uint64_t page) {
  if (page / 64 >= words_[region]) return false;
  const uint64_t mask = uint64_t{1} << (page % 64);
  return bits[region][page / 64].fetch_and(~mask, std::memory_order_acq_rel) & mask;
}

void Postcopy::data(uint64_t guest_addr, const uint8_t* bytes, uint64_t len) {
  size_t region = 0;
  uint64_t first = 0;
  if (!locate_page(memory_, guest_addr, region, first)) return;
  uint8_t* base = memory_.regions()[region].mapping.data();
  for (uint64_t i = 0; i < len / kPageSize; ++i) {
    const uint64_t page = first + i;
    uffdio_copy copy{};
    copy.dst = reinterpret_cast<uint64_t>(base + page * kPageSize);
    copy.src = reinterpret_cast<uint64_t>(bytes + i * kPageSize);
    copy.len = kPageSize;
    // EEXIST: here already (a fault was answered with a zero page); the source's bytes are newer only for
    // pages still missing, and those cannot be present.
    if (::ioctl(uffd_.get(), UFFDIO_COPY, &copy) != 0 && errno != EEXIST) {
      throw Error(fmt::format("post-copy: UFFDIO_COPY at guest {:#x}: {}", guest_addr + i * kPageSize,
                              std::strerror(errno)));
    }
    test_and_clear(missing_, region, page);
  }
}

void Postcopy::zero(uint64_t guest_addr, uint64_t len) {
  size_t region = 0;
  uint64_t first = 0;
  if (!locate_page(memory_, guest_addr, region, first)) return;
  for (uint64_t i = 0; i < len / kPageSize; ++i) {
    uffdio_zeropage z{};
    z.range.start = reinterpret_cast<uint64_t>(memory_.regions()[region].mapping.data() + (first + i) * kPageSize);
    z.range.len = kPageSize;
    ::ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &z);
    test_and_clear(missing_, region, first + i);
  }
}

void Postcopy::on_fault(uint64_t host_addr) {
  const auto& regions = memory_.regions();
  for (size_t r = 0; r < regions.size(); ++r) {
    const auto base = reinterpret_cast<uint64_t>(regions[r].mapping.data());
    if (host_addr < base || host_addr - base >= regions[r].mapping.size()) continue;
    const uint64_t page = (host_addr - base) / kPageSize;
    const uint64_t page_addr = base + page * kPageSize;
    if (page / 64 < words_[r] && bit(missing_[r].get(), page)) {
      const uint64_t mask = uint64_t{1} << (page % 64);
      if (!(requested_bits_[r][page / 64].fetch_or(mask) & mask)) {
        const uint64_t guest_addr = regions[r].range.start + page * kPageSize;
        const iovec part{const_cast<uint64_t*>(&guest_addr), sizeof(guest_addr)};
        stream_.send(MsgType::kPageRequest, std::span(&part, 1));
        ++requested_;
      }
      return;  // UFFDIO_COPY of the answer wakes the faulting thread
    }
    // Not on the source: a page it reported as zero, never placed here.
    uffdio_zeropage z{};
    z.range.start = page_addr;
    z.range.len = kPageSize;
    if (::ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &z) != 0) {
      uffdio_range wake{page_addr, kPageSize};  // EEXIST: placed meanwhile; wake whoever still waits
      ::ioctl(uffd_.get(), UFFDIO_WAKE, &wake);
    }
    return;
  }
}

void Postcopy::serve_faults() {
  try {
    for (;;) {
      pollfd fds[2] = {{uffd_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw_errno("post-copy: poll");
      }
      if (fds[1].revents) return;
      uffd_msg msgs[16];
      const ssize_t n = ::read(uffd_.get(), msgs, sizeof(msgs));
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        throw_errno("post-copy: reading the userfaultfd");
      }
      for (ssize_t i = 0; i < n / static_cast<ssize_t>(sizeof(uffd_msg)); ++i) {
        if (msgs[i].event == UFFD_EVENT_PAGEFAULT) on_fault(msgs[i].arg.pagefault.address);
      }
    }
  } catch (const std::exception& e) {
    // The receive thread sees the broken stream too and reports it.
    SPDLOG_ERROR("post-copy: fault handling stopped: {}", e.what());
  }
}

}  // namespace hearth::migration
