#include "vmm/migration/pages.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::migration {
namespace {

using test::error_of;
using namespace std::chrono_literals;

constexpr uint64_t kRegion = 64 * 1024;  // 16 pages
constexpr uint64_t kSecond = 1 << 20;

GuestMemory two_regions() { return GuestMemory::create_anonymous({{0, kRegion}, {kSecond, kRegion}}); }

struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = std::make_unique<Stream>(UniqueFd(fds[0]));
    b = std::make_unique<Stream>(UniqueFd(fds[1]));
  }
  std::unique_ptr<Stream> a, b;
};

uint8_t* at(const GuestMemory& m, uint64_t addr) { return m.slice(addr, kPageSize)->data(); }

void fill(const GuestMemory& m, uint64_t addr, uint8_t seed) {
  for (uint64_t i = 0; i < kPageSize; ++i) at(m, addr)[i] = static_cast<uint8_t>(seed + i * 7);
}

bool same_page(const GuestMemory& x, const GuestMemory& y, uint64_t addr) {
  return std::memcmp(at(x, addr), at(y, addr), kPageSize) == 0;
}

bool page_zero(const GuestMemory& m, uint64_t addr) {
  for (uint64_t i = 0; i < kPageSize; ++i)
    if (at(m, addr)[i]) return false;
  return true;
}

// Receives kPages messages and applies them until `expected` pages arrived (the sender may still run).
uint64_t drain(Stream& s, const GuestMemory& dst, PageSink& sink, uint64_t expected) {
  uint64_t pages = 0;
  while (pages < expected) {
    const Message m = s.receive(5s);
    EXPECT_EQ(m.type, MsgType::kPages);
    pages += apply_page_batch(m, dst, sink);
  }
  return pages;
}

// Builds a raw page batch payload.
struct Batch {
  struct Run {
    uint64_t addr;
    uint32_t pages, kind;
  };
  std::vector<Run> runs;
  std::vector<uint8_t> data;
  int32_t count_delta = 0;
  Message message() const {
    Message m{MsgType::kPages, {}};
    const uint32_t header[2] = {static_cast<uint32_t>(runs.size() + count_delta), 0};
    m.payload.insert(m.payload.end(), reinterpret_cast<const uint8_t*>(header), reinterpret_cast<const uint8_t*>(header) + 8);
    for (const auto& r : runs) {
      const auto* b = reinterpret_cast<const uint8_t*>(&r);
      m.payload.insert(m.payload.end(), b, b + sizeof(r));
    }
    m.payload.insert(m.payload.end(), data.begin(), data.end());
    return m;
  }
};
static_assert(sizeof(Batch::Run) == 16);

// A sink that records calls (to check nothing is written on a refused batch past the bad run).
struct RecordingSink final : PageSink {
  std::vector<std::pair<uint64_t, uint64_t>> datas, zeros;
  void data(uint64_t a, const uint8_t*, uint64_t len) override { datas.emplace_back(a, len); }
  void zero(uint64_t a, uint64_t len) override { zeros.emplace_back(a, len); }
};

TEST(MigrationPages, SenderToApplyCopiesDataPagesExactly) {
  const GuestMemory src = two_regions(), dst = two_regions();
  fill(src, 0, 1);
  fill(src, 5 * kPageSize, 2);
  fill(src, kSecond + 15 * kPageSize, 3);
  Pair p;
  PageSender sender(*p.a, src, 0);
  std::thread t([&] { sender.send_bitmaps(full_bitmaps(src), false); });
  MemoryPageSink sink(dst);
  EXPECT_EQ(drain(*p.b, dst, sink, 32), 32u);
  t.join();
  EXPECT_EQ(sender.data_pages(), 32u);
  EXPECT_EQ(sender.zero_pages(), 0u);
  for (uint64_t pg = 0; pg < 16; ++pg) {
    EXPECT_TRUE(same_page(src, dst, pg * kPageSize)) << pg;
    EXPECT_TRUE(same_page(src, dst, kSecond + pg * kPageSize)) << pg;
  }
  EXPECT_FALSE(page_zero(dst, 5 * kPageSize));
}

TEST(MigrationPages, ZeroRunsClearPagesAnEarlierBatchWrote) {
  const GuestMemory src = two_regions(), dst = two_regions();
  fill(src, 2 * kPageSize, 9);
  fill(src, 3 * kPageSize, 8);
  Pair p;
  MemoryPageSink sink(dst);
  {
    PageSender sender(*p.a, src, 0);
    sender.add(0, 2, false);
    sender.add(0, 3, false);
    sender.flush();
  }
  drain(*p.b, dst, sink, 2);
  EXPECT_TRUE(same_page(src, dst, 2 * kPageSize));
  // Something outside the sink's knowledge on page 4 (never written by a batch) stays: zero runs only clear
  // what a batch wrote.
  fill(dst, 4 * kPageSize, 5);
  {
    PageSender sender(*p.a, src, 0);
    sender.add(0, 2, true);
    sender.add(0, 3, true);
    sender.add(0, 4, true);
    sender.flush();
    EXPECT_EQ(sender.zero_pages(), 3u);
    EXPECT_EQ(sender.payload_bytes(), 8u + 16u);  // one run, no data
  }
  EXPECT_EQ(drain(*p.b, dst, sink, 3), 3u);
  pollfd pending{p.b->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pending, 1, 0), 0);  // nothing more was sent
  EXPECT_TRUE(page_zero(dst, 2 * kPageSize));
  EXPECT_TRUE(page_zero(dst, 3 * kPageSize));
  EXPECT_FALSE(page_zero(dst, 4 * kPageSize));
}

TEST(MigrationPages, BatchesSplitAtKBatchPages) {
  constexpr uint64_t kBig = 2 * PageSender::kBatchPages * kPageSize + 8 * kPageSize;  // 520 pages
  const GuestMemory src = GuestMemory::create_anonymous({{0, kBig}}), dst = GuestMemory::create_anonymous({{0, kBig}});
  for (uint64_t pg = 0; pg < kBig / kPageSize; ++pg) fill(src, pg * kPageSize, static_cast<uint8_t>(pg));
  Pair p;
  PageSender sender(*p.a, src, 0);
  std::thread t([&] { sender.send_bitmaps(full_bitmaps(src), false); });
  MemoryPageSink sink(dst);
  std::vector<uint64_t> sizes;
  uint64_t pages = 0;
  while (pages < kBig / kPageSize) {
    const Message m = p.b->receive(5s);
    sizes.push_back(m.payload.size());
    pages += apply_page_batch(m, dst, sink);
  }
  t.join();
  ASSERT_EQ(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 8 + 16 + PageSender::kBatchPages * kPageSize);
  EXPECT_EQ(sizes[1], 8 + 16 + PageSender::kBatchPages * kPageSize);
  EXPECT_EQ(sizes[2], 8 + 16 + 8 * kPageSize);
  EXPECT_EQ(std::memcmp(src.slice(0, kBig)->data(), dst.slice(0, kBig)->data(), kBig), 0);
}

TEST(MigrationPages, SkipUntouchedSendsUntouchedPagesAsZeroRuns) {
  const GuestMemory src = two_regions(), dst = two_regions();
  fill(src, 1 * kPageSize, 4);
  fill(src, kSecond, 6);
  at(src, 7 * kPageSize)[0] = 0;  // touched but reads as zero
  Pair p;
  PageSender sender(*p.a, src, 0);
  std::thread t([&] { sender.send_bitmaps(full_bitmaps(src), true); });
  MemoryPageSink sink(dst);
  EXPECT_EQ(drain(*p.b, dst, sink, 32), 32u);
  t.join();
  EXPECT_EQ(sender.data_pages(), 2u);
  EXPECT_EQ(sender.zero_pages(), 30u);
  EXPECT_TRUE(same_page(src, dst, kPageSize));
  EXPECT_TRUE(same_page(src, dst, kSecond));
  EXPECT_TRUE(page_zero(dst, 0));
}

TEST(MigrationPages, PacingDoesNotChangeWhatIsSent) {
  const GuestMemory src = two_regions();
  fill(src, 0, 1);
  Pair p;
  PageSender sender(*p.a, src, 1000);  // 1000 MiB/s: 4 KiB is due within microseconds
  sender.add(0, 0, false);
  sender.flush();
  EXPECT_EQ(sender.payload_bytes(), 8u + 16u + kPageSize);
  EXPECT_EQ(p.b->receive(1s).payload.size(), 8u + 16u + kPageSize);
}

TEST(MigrationPages, BitmapHelpers) {
  const GuestMemory m = GuestMemory::create_anonymous({{0, 100 * kPageSize}, {kSecond, kPageSize}});
  Bitmaps full = full_bitmaps(m);
  ASSERT_EQ(full.size(), 2u);
  EXPECT_EQ(full[0].size(), 2u);
  EXPECT_EQ(count_pages(full), 101u);
  Bitmaps e = empty_bitmaps(m);
  EXPECT_EQ(count_pages(e), 0u);
  Bitmaps some = empty_bitmaps(m);
  some[0][1] = 0b101;
  some[1][0] = 1;
  merge_into(e, some);
  EXPECT_EQ(count_pages(e), 3u);
  merge_into(e, some);
  EXPECT_EQ(count_pages(e), 3u);
  merge_into(e, full);
  EXPECT_EQ(count_pages(e), 101u);
  size_t region = 9;
  uint64_t page = 0;
  EXPECT_TRUE(locate_page(m, kSecond + 5, region, page));
  EXPECT_EQ(region, 1u);
  EXPECT_EQ(page, 0u);
  EXPECT_FALSE(locate_page(m, 100 * kPageSize, region, page));
}

TEST(MigrationPages, ValidRawBatchApplies) {
  const GuestMemory dst = two_regions();
  Batch b;
  b.runs = {{kSecond + kPageSize, 2, 0}, {0, 3, 1}};
  b.data.assign(2 * kPageSize, 0xAB);
  RecordingSink sink;
  EXPECT_EQ(apply_page_batch(b.message(), dst, sink), 5u);
  ASSERT_EQ(sink.datas.size(), 1u);
  EXPECT_EQ(sink.datas[0], std::make_pair(kSecond + kPageSize, 2 * kPageSize));
  ASSERT_EQ(sink.zeros.size(), 1u);
  EXPECT_EQ(sink.zeros[0], std::make_pair(uint64_t{0}, 3 * kPageSize));
}

struct Hostile {
  const char* name;
  Batch batch;
  const char* error;
};

TEST(MigrationPages, HostileBatchesThrowAndWriteNothingOutside) {
  std::vector<uint8_t> one(kPageSize, 0xEE);
  std::vector<Hostile> cases = {
      {"past region end", {{{kRegion - kPageSize, 2, 0}}, std::vector<uint8_t>(2 * kPageSize, 1)}, "not in guest RAM"},
      {"in the hole", {{{kRegion, 1, 0}}, one}, "not in guest RAM"},
      {"across regions", {{{kRegion - kPageSize, 300, 1}}, {}}, "not in guest RAM"},
      {"far away", {{{~uint64_t{0} - kPageSize + 1, 1, 0}}, one}, "not in guest RAM"},
      {"unaligned", {{{8, 1, 0}}, one}, "not in guest RAM"},
      {"zero pages", {{{0, 0, 0}}, {}}, "not in guest RAM"},
      {"unknown kind", {{{0, 1, 2}}, one}, "kind 2"},
      {"table longer than payload", {{{0, 1, 1}}, {}, 5}, "announces 6 runs"},
      {"count overflow", {{{0, 1, 1}}, {}, -2}, "announces 4294967295 runs"},
      {"data short", {{{0, 2, 0}}, one}, "past the end of its batch"},
      {"data long", {{{0, 1, 0}}, std::vector<uint8_t>(kPageSize + 1, 1)}, "beyond its runs"},
      {"max pages", {{{0, 0xFFFFFFFF, 0}}, one}, "not in guest RAM"},
  };
  for (const auto& c : cases) {
    const GuestMemory dst = two_regions();
    MemoryPageSink sink(dst);
    const std::string err = error_of([&] { apply_page_batch(c.batch.message(), dst, sink); });
    EXPECT_NE(err.find(c.error), std::string::npos) << c.name << ": " << err;
    // Checked before written: a refused batch changes nothing, in or out of guest RAM.
    for (uint64_t pg = 0; pg < 16; ++pg) {
      EXPECT_TRUE(page_zero(dst, pg * kPageSize)) << c.name;
      EXPECT_TRUE(page_zero(dst, kSecond + pg * kPageSize)) << c.name;
    }
  }
  Message tiny{MsgType::kPages, {1, 0, 0}};
  const GuestMemory dst = two_regions();
  RecordingSink sink;
  EXPECT_NE(error_of([&] { apply_page_batch(tiny, dst, sink); }).find("shorter than its header"), std::string::npos);
}

}  // namespace
}  // namespace hearth::migration
