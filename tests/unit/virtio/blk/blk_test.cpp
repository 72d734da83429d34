#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/virtio/blk/blk_harness.h"
#include "virtio/blk/config_space.h"
#include "vmm/base/error.h"

namespace hearth::virtio::blk::test {
namespace {

constexpr size_t kDiskSize = 64 * 1024;  // 128 sectors

DriveConfig drive(hearth::IoEngine engine, bool read_only = false, CacheType cache = CacheType::kUnsafe) {
  DriveConfig c;
  c.drive_id = "rootfs";
  c.is_read_only = read_only;
  c.cache_type = cache;
  c.io_engine = engine;
  return c;
}

class BlkTest : public ::testing::TestWithParam<hearth::IoEngine> {
 protected:
  std::vector<uint8_t> disk = pattern(kDiskSize);
  std::unique_ptr<BlkHarness> h;
  void start(bool read_only = false, CacheType cache = CacheType::kUnsafe, bool indirect = false) {
    h = std::make_unique<BlkHarness>(drive(GetParam(), read_only, cache), disk, indirect);
  }
};

TEST_P(BlkTest, ConfigSpaceAndFeatures) {
  start();
  uint64_t capacity = 0;
  h->transport->read(mmio::kConfigSpace, std::span(reinterpret_cast<uint8_t*>(&capacity), 8));
  EXPECT_EQ(capacity, kDiskSize / 512);
  const uint64_t f = h->dev->avail_features();
  EXPECT_TRUE(f & feature_bit(kFeatureVersion1));
  EXPECT_TRUE(f & feature_bit(kFeatureRingEventIdx));
  EXPECT_FALSE(f & feature_bit(kFeatureFlush));  // Unsafe cache
  EXPECT_FALSE(f & feature_bit(kFeatureRo));
  EXPECT_TRUE(f & feature_bit(kFeatureDiscard));
  uint32_t seg_max = 0;
  h->transport->read(mmio::kConfigSpace + 12, std::span(reinterpret_cast<uint8_t*>(&seg_max), 4));
  EXPECT_EQ(seg_max, kSegMax);
}

TEST_P(BlkTest, ReadReturnsFileContents) {
  start();
  auto r = h->read_req(4, 2048);
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->status_of(r), kStatusOk);
  EXPECT_EQ(h->guest_bytes(r.data, 2048), std::vector<uint8_t>(disk.begin() + 2048, disk.begin() + 4096));
  EXPECT_EQ(h->ring.used(0).id, r.head);
  EXPECT_EQ(h->ring.used(0).len, 2049u);
  EXPECT_EQ(h->dev->metrics().read_bytes, 2048u);
  EXPECT_EQ(h->dev->metrics().read_count, 1u);
  EXPECT_GE(h->irq->count, 1);
}

TEST_P(BlkTest, WriteReachesFile) {
  start();
  auto data = pattern(1024, 99);
  auto w = h->write_req(10, data);
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->status_of(w), kStatusOk);
  EXPECT_EQ(h->ring.used(0).len, 1u);  // only the status byte was written to the guest
  auto on_disk = h->file.read_all();
  EXPECT_EQ(std::vector<uint8_t>(on_disk.begin() + 5120, on_disk.begin() + 6144), data);
  EXPECT_EQ(on_disk[5119], disk[5119]);
  EXPECT_EQ(h->dev->metrics().write_bytes, 1024u);
}

TEST_P(BlkTest, RequestSplitAcrossManyDescriptors) {
  start();
  // Header in two halves, data in three pieces, status alone: no framing may be assumed.
  const uint64_t hdr = h->header(kTypeIn, 1);
  const uint64_t a = h->alloc(512), b = h->alloc(1024), c = h->alloc(512);
  const uint64_t st = h->status_byte();
  h->add_chain({{hdr, 8, false}, {hdr + 8, 8, false}, {a, 512, true}, {b, 1024, true}, {c, 512, true}, {st, 1, true}});
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->mem.read_obj<uint8_t>(st), kStatusOk);
  EXPECT_EQ(h->guest_bytes(a, 512), std::vector<uint8_t>(disk.begin() + 512, disk.begin() + 1024));
  EXPECT_EQ(h->guest_bytes(b, 1024), std::vector<uint8_t>(disk.begin() + 1024, disk.begin() + 2048));
  EXPECT_EQ(h->guest_bytes(c, 512), std::vector<uint8_t>(disk.begin() + 2048, disk.begin() + 2560));
}

TEST_P(BlkTest, IndirectDescriptors) {
  start(false, CacheType::kUnsafe, /*indirect=*/true);
  const uint64_t table = h->alloc(48);
  const uint64_t hdr = h->header(kTypeIn, 0);
  const uint64_t data = h->alloc(512);
  const uint64_t st = h->status_byte();
  h->ring.set_table_desc(table, 0, hdr, 16, kDescFlagNext, 1);
  h->ring.set_table_desc(table, 1, data, 512, kDescFlagNext | kDescFlagWrite, 2);
  h->ring.set_table_desc(table, 2, st, 1, kDescFlagWrite);
  h->ring.set_desc(200, table, 48, kDescFlagIndirect);
  h->ring.push_avail(200);
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->mem.read_obj<uint8_t>(st), kStatusOk);
  EXPECT_EQ(h->ring.used(0).id, 200u);
  EXPECT_EQ(h->guest_bytes(data, 512), std::vector<uint8_t>(disk.begin(), disk.begin() + 512));
}

TEST_P(BlkTest, FlushWithWritebackCache) {
  start(false, CacheType::kWriteback);
  EXPECT_TRUE(h->dev->avail_features() & feature_bit(kFeatureFlush));
  auto f = h->simple_req(kTypeFlush);
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->status_of(f), kStatusOk);
  EXPECT_EQ(h->dev->metrics().flush_count, 1u);
}

TEST_P(BlkTest, FlushWithUnsafeCacheIsANoOpSuccess) {
  start();
  auto f = h->simple_req(kTypeFlush);
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->status_of(f), kStatusOk);
}

TEST_P(BlkTest, GetIdIsDriveIdNulPadded) {
  start();
  const uint64_t hdr = h->header(kTypeGetId, 0);
  const uint64_t id = h->alloc(kIdBytes);
  h->mem.write(id, std::vector<uint8_t>(kIdBytes, 0xff));
  const uint64_t st = h->status_byte();
  h->add_chain({{hdr, 16, false}, {id, kIdBytes, true}, {st, 1, true}});
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->mem.read_obj<uint8_t>(st), kStatusOk);
  std::vector<uint8_t> expect(kIdBytes, 0);
  std::memcpy(expect.data(), "rootfs", 6);
  EXPECT_EQ(h->guest_bytes(id, kIdBytes), expect);
  EXPECT_EQ(h->ring.used(0).len, kIdBytes + 1);
}

TEST_P(BlkTest, ReadOnlyDriveRejectsWrites) {
  start(/*read_only=*/true);
  EXPECT_TRUE(h->dev->avail_features() & feature_bit(kFeatureRo));
  EXPECT_FALSE(h->dev->avail_features() & feature_bit(kFeatureDiscard));
  auto w = h->write_req(0, pattern(512, 5));
  auto r = h->read_req(0, 512);
  ASSERT_TRUE(h->kick_and_wait(2));
  EXPECT_EQ(h->status_of(w), kStatusIoErr);
  EXPECT_EQ(h->status_of(r), kStatusOk);
  EXPECT_EQ(h->file.read_all(), disk);
  EXPECT_EQ(h->dev->metrics().errors, 1u);
}

TEST_P(BlkTest, OutOfRangeSectorsAreIoErrors) {
  start();
  const uint64_t sectors = kDiskSize / 512;
  auto last = h->read_req(sectors - 1, 512);      // fine
  auto past = h->read_req(sectors, 512);          // starts at the end
  auto straddle = h->read_req(sectors - 1, 1024);  // runs past the end
  auto wrap = h->read_req(UINT64_MAX - 1, 1024);  // sector + count overflows
  auto wpast = h->write_req(sectors, pattern(512));
  ASSERT_TRUE(h->kick_and_wait(5));
  EXPECT_EQ(h->status_of(last), kStatusOk);
  EXPECT_EQ(h->status_of(past), kStatusIoErr);
  EXPECT_EQ(h->status_of(straddle), kStatusIoErr);
  EXPECT_EQ(h->status_of(wrap), kStatusIoErr);
  EXPECT_EQ(h->status_of(wpast), kStatusIoErr);
  EXPECT_EQ(h->file.read_all(), disk);
}

TEST_P(BlkTest, BadLayoutsAreRejected) {
  start();
  auto odd = h->read_req(0, 100);  // not a multiple of 512
  auto unsupported = h->simple_req(99);
  // Header only: no writable status byte, so the chain comes back with length 0.
  const uint16_t no_status = h->add_chain({{h->header(kTypeIn, 0), 16, false}});
  // Header too short.
  const uint64_t st = h->status_byte();
  h->add_chain({{h->header(kTypeIn, 0), 8, false}, {st, 1, true}});
  ASSERT_TRUE(h->kick_and_wait(4));
  EXPECT_EQ(h->status_of(odd), kStatusIoErr);
  EXPECT_EQ(h->status_of(unsupported), kStatusUnsupp);
  EXPECT_EQ(h->ring.used(2).id, no_status);
  EXPECT_EQ(h->ring.used(2).len, 0u);
  EXPECT_EQ(h->mem.read_obj<uint8_t>(st), kStatusIoErr);
  EXPECT_EQ(h->dev->metrics().errors, 4u);
  EXPECT_EQ(h->reg(mmio::kRegStatus) & kStatusNeedsReset, 0u);  // request errors do not break the device
}

TEST_P(BlkTest, DiscardAndWriteZeroes) {
  start();
  auto seg_req = [&](uint32_t type, uint64_t sector, uint32_t count, uint32_t flags) {
    const uint64_t hdr = h->header(type, 0);
    const uint64_t seg = h->alloc(16);
    h->mem.write_obj(seg, DiscardSegment{sector, count, flags});
    BlkHarness::Submitted s{0, seg, h->status_byte()};
    s.head = h->add_chain({{hdr, 16, false}, {seg, 16, false}, {s.status, 1, true}});
    return s;
  };
  auto wz = seg_req(kTypeWriteZeroes, 8, 16, 0);                     // bytes 4096..12288
  auto discard = seg_req(kTypeDiscard, 64, 8, 0);                    // a 4 KiB hole
  auto bad_flags = seg_req(kTypeDiscard, 0, 8, kWriteZeroesFlagUnmap);  // unmap flag on discard
  auto range = seg_req(kTypeWriteZeroes, 120, 16, 0);                // past the end
  ASSERT_TRUE(h->kick_and_wait(4));
  EXPECT_EQ(h->status_of(wz), kStatusOk);
  EXPECT_EQ(h->status_of(discard), kStatusOk);
  EXPECT_EQ(h->status_of(bad_flags), kStatusUnsupp);
  EXPECT_EQ(h->status_of(range), kStatusIoErr);
  auto on_disk = h->file.read_all();
  ASSERT_EQ(on_disk.size(), kDiskSize);  // KEEP_SIZE
  EXPECT_EQ(std::vector<uint8_t>(on_disk.begin() + 4096, on_disk.begin() + 12288), std::vector<uint8_t>(8192, 0));
  EXPECT_EQ(on_disk[4095], disk[4095]);
  EXPECT_EQ(on_disk[12288], disk[12288]);
}

TEST_P(BlkTest, BrokenRingSetsNeedsReset) {
  start();
  h->ring.set_avail_idx(1000);  // more than the queue size at once
  h->kick();
  EXPECT_EQ(h->reg(mmio::kRegStatus) & kStatusNeedsReset, kStatusNeedsReset);
  EXPECT_EQ(h->reg(mmio::kRegInterruptStatus) & kInterruptConfigChange, kInterruptConfigChange);
  EXPECT_EQ(h->dev->metrics().queue_errors, 1u);
}

TEST_P(BlkTest, UpdateBackingFileSignalsNewCapacity) {
  start();
  TempFile bigger(pattern(2 * kDiskSize, 3));
  const uint32_t gen = h->reg(mmio::kRegConfigGeneration);
  h->dev->update_backing_file(bigger.path);
  EXPECT_EQ(h->dev->capacity_sectors(), 2 * kDiskSize / 512);
  EXPECT_NE(h->reg(mmio::kRegConfigGeneration), gen);
  EXPECT_EQ(h->reg(mmio::kRegInterruptStatus) & kInterruptConfigChange, kInterruptConfigChange);
  auto r = h->read_req(kDiskSize / 512, 512);  // beyond the old end
  ASSERT_TRUE(h->kick_and_wait(1));
  EXPECT_EQ(h->status_of(r), kStatusOk);
  EXPECT_THROW(h->dev->update_backing_file("/nonexistent/disk.img"), Error);
  EXPECT_EQ(h->dev->capacity_sectors(), 2 * kDiskSize / 512);  // old file kept
}

TEST_P(BlkTest, RateLimiterDefersRequestsUntilTimer) {
  DriveConfig c = drive(GetParam());
  RateLimiterConfig rl;
  rl.ops = TokenBucketConfig{1, 0, 100};
  c.rate_limiter = rl;
  h = std::make_unique<BlkHarness>(c, disk);
  auto a = h->read_req(0, 512);
  auto b = h->read_req(1, 512);
  h->kick();
  ASSERT_TRUE(h->wait_used(1, 50));
  EXPECT_EQ(h->ring.used_idx(), 1);  // second one waits for tokens
  EXPECT_EQ(h->dev->metrics().throttled, 1u);
  EXPECT_TRUE(h->dev->rate_limiter().is_blocked());
  ASSERT_TRUE(h->wait_used(2, 2000));  // the limiter's timerfd resumes the queue
  EXPECT_EQ(h->status_of(a), kStatusOk);
  EXPECT_EQ(h->status_of(b), kStatusOk);
}

TEST_P(BlkTest, ResetWithRequestsOutstanding) {
  start();
  for (int i = 0; i < 8; ++i) h->read_req(static_cast<uint64_t>(i), 4096);
  h->kick();
  h->set_reg(mmio::kRegStatus, 0);  // drains in-flight I/O before the rings go away
  EXPECT_FALSE(h->dev->activated());
  EXPECT_EQ(h->dev->in_flight(), 0u);
  h->loop.run_once(50);  // a stale completion event must be harmless
}

TEST_P(BlkTest, StateRoundTrip) {
  start();
  h->dev->prepare_save();
  const BlkState s = h->dev->save_blk_state();
  nlohmann::json j = s;
  EXPECT_EQ(j.get<BlkState>(), s);
  EXPECT_EQ(s.capacity_sectors, kDiskSize / 512);
  EXPECT_EQ(s.io_engine, GetParam());
  h->dev->restore_blk_state(s);
  BlkState other = s;
  other.capacity_sectors = 1;
  EXPECT_THROW(h->dev->restore_blk_state(other), Error);
  // Through the common Device interface: versioned, and a newer version is refused by name.
  DeviceState saved = h->dev->save();
  EXPECT_EQ(saved.kind, "virtio-blk");
  EXPECT_EQ(saved.version, 1u);
  h->dev->restore(saved);
  saved.version = 7;
  try {
    h->dev->restore(saved);
    ADD_FAILURE() << "version 7 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state version 7 is not supported (this build reads 1..1)"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, BlkTest, ::testing::Values(hearth::IoEngine::kSync, hearth::IoEngine::kAsync),
                         [](const auto& p) { return p.param == hearth::IoEngine::kSync ? "Sync" : "Async"; });

TEST(BlkAsync, NoUsedEntryBeforeCompletionIsReaped) {
  auto disk = pattern(kDiskSize);
  BlkHarness h(drive(hearth::IoEngine::kAsync), disk);
  auto r = h.read_req(0, 4096);
  h.kick();
  EXPECT_EQ(h.ring.used_idx(), 0);  // submitted, not completed: the ring is untouched
  EXPECT_EQ(h.dev->in_flight(), 1u);
  ASSERT_TRUE(h.wait_used(1));
  EXPECT_EQ(h.status_of(r), kStatusOk);
  EXPECT_EQ(h.dev->in_flight(), 0u);
}

TEST(BlkConfig, PartialLastSectorIsNotVisible) {
  auto content = pattern(1000);
  TempFile f(content);
  DriveConfig c = drive(hearth::IoEngine::kSync);
  c.path_on_host = f.path;
  BlkDevice dev(c, nullptr);
  EXPECT_EQ(dev.capacity_sectors(), 1u);
}

TEST(BlkConfig, MissingFileNamesDriveAndPath) {
  DriveConfig c = drive(hearth::IoEngine::kSync);
  c.path_on_host = "/nonexistent/rootfs.ext4";
  try {
    BlkDevice dev(c, nullptr);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rootfs"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/rootfs.ext4"), std::string::npos);
  }
}

TEST(BlkConfig, ConfigSpaceLayout) {
  auto space = make_config_space(0x123456789);
  uint64_t cap;
  std::memcpy(&cap, space.data(), 8);
  EXPECT_EQ(cap, 0x123456789u);
  uint32_t max_discard_seg;
  std::memcpy(&max_discard_seg, space.data() + 40, 4);
  EXPECT_EQ(max_discard_seg, kMaxDiscardSegments);
  EXPECT_EQ(space[56], 1);
}

}  // namespace
}  // namespace hearth::virtio::blk::test
