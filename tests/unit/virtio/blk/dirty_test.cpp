// The VMM's own writes into guest memory must reach the dirty bitmap (KVM logs only guest CPU writes):
// data a READ puts into guest buffers, the status byte and the used ring.
#include <gtest/gtest.h>

#include <set>

#include "tests/unit/virtio/blk/blk_harness.h"

namespace hearth::virtio::blk::test {
namespace {

constexpr size_t kDiskSize = 64 * 1024;
constexpr uint64_t kPage = GuestMemory::kDirtyPageSize;

std::set<uint64_t> dirty_pages(const GuestMemory& mem) {
  std::set<uint64_t> out;
  const auto maps = mem.take_vmm_dirty_bitmaps();
  for (size_t w = 0; w < maps.at(0).size(); ++w) {
    for (int b = 0; b < 64; ++b) {
      if (maps[0][w] >> b & 1) out.insert(w * 64 + b);
    }
  }
  return out;
}

class BlkDirtyTest : public ::testing::TestWithParam<hearth::IoEngine> {
 protected:
  void SetUp() override {
    DriveConfig c;
    c.drive_id = "rootfs";
    c.io_engine = GetParam();
    h = std::make_unique<BlkHarness>(c, disk);
    h->mem.enable_dirty_tracking();
  }
  std::vector<uint8_t> disk = pattern(kDiskSize);
  std::unique_ptr<BlkHarness> h;
};

TEST_P(BlkDirtyTest, ReadMarksDataStatusAndUsedRingPages) {
  h->alloc(0x800);                  // the data buffer starts mid-page...
  auto r = h->read_req(8, 2 * kPage);  // ...and spans 3 pages; header and status follow on the third
  ASSERT_EQ(r.data, 0x10800u);
  dirty_pages(h->mem);  // forget the driver side's writes (the harness writes through GuestMemory too)

  ASSERT_TRUE(h->kick_and_wait(1));
  ASSERT_EQ(h->status_of(r), kStatusOk);
  EXPECT_EQ(h->guest_bytes(r.data, 2 * kPage),
            std::vector<uint8_t>(disk.begin() + 8 * 512, disk.begin() + 8 * 512 + 2 * kPage));
  const uint64_t used_page = h->ring.used_addr() / kPage;
  // Exactly these: the descriptor table and avail ring are only read.
  EXPECT_EQ(dirty_pages(h->mem), (std::set<uint64_t>{used_page, 0x10, 0x11, 0x12}));
  EXPECT_TRUE(dirty_pages(h->mem).empty());  // taken and cleared
}

TEST_P(BlkDirtyTest, NothingMarkedWithoutTracking) {
  DriveConfig c;
  c.drive_id = "rootfs";
  c.io_engine = GetParam();
  BlkHarness plain(c, disk);
  auto r = plain.read_req(0, 512);
  ASSERT_TRUE(plain.kick_and_wait(1));
  ASSERT_EQ(plain.status_of(r), kStatusOk);
  EXPECT_TRUE(dirty_pages(plain.mem).empty());
}

INSTANTIATE_TEST_SUITE_P(Engines, BlkDirtyTest, ::testing::Values(hearth::IoEngine::kSync, hearth::IoEngine::kAsync),
                         [](const auto& p) { return p.param == hearth::IoEngine::kSync ? "Sync" : "Async"; });

}  // namespace
}  // namespace hearth::virtio::blk::test
