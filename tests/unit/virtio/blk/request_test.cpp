#include "virtio/blk/request.h"

#include <gtest/gtest.h>

namespace hearth::virtio::blk {
namespace {

class RequestTest : public ::testing::Test {
 protected:
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x10000}});
  DiskGeometry disk{100, false, true};
  DescriptorChain chain(uint32_t type, uint64_t sector, std::vector<GuestBuffer> readable_extra,
                        std::vector<GuestBuffer> writable) {
    mem.write_obj(0x100, RequestHeader{type, 0, sector});
    DescriptorChain c;
    c.readable.push_back({0x100, 16});
    for (auto& b : readable_extra) c.readable.push_back(b);
    c.writable = std::move(writable);
    for (auto& b : c.readable) c.readable_len += b.len;
    for (auto& b : c.writable) c.writable_len += b.len;
    return c;
  }
};

TEST_F(RequestTest, StatusIsTheLastWritableByteEvenInsideADataBuffer) {
  // Data and status share one 513-byte writable descriptor.
  auto parsed = parse_request(mem, chain(kTypeIn, 2, {}, {{0x1000, 513}}), disk);
  ASSERT_TRUE(std::holds_alternative<Request>(parsed));
  const auto& req = std::get<Request>(parsed);
  EXPECT_EQ(req.status_addr, 0x1000u + 512);
  EXPECT_EQ(req.data_len, 512u);
  ASSERT_EQ(req.data.size(), 1u);
  EXPECT_EQ(req.data[0].len, 512u);
}

TEST_F(RequestTest, InWithReadableDataIsIoErr) {
  auto parsed = parse_request(mem, chain(kTypeIn, 0, {{0x2000, 512}}, {{0x1000, 1}}), disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).status, kStatusIoErr);
}

TEST_F(RequestTest, OutWithExtraWritableBytesIsIoErr) {
  auto parsed = parse_request(mem, chain(kTypeOut, 0, {{0x2000, 512}}, {{0x1000, 2}}), disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).status_addr, 0x1001u);
}

TEST_F(RequestTest, GetIdNeedsTwentyBytes) {
  auto parsed = parse_request(mem, chain(kTypeGetId, 0, {}, {{0x1000, 10}, {0x2000, 1}}), disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).status, kStatusIoErr);
}

TEST_F(RequestTest, TooManyDiscardSegmentsIsIoErr) {
  auto parsed = parse_request(mem, chain(kTypeDiscard, 0, {{0x2000, 16 * (kMaxDiscardSegments + 1)}}, {{0x1000, 1}}),
                              disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).status, kStatusIoErr);
}

TEST_F(RequestTest, DiscardWithoutFeatureIsUnsupported) {
  disk.discard = false;
  mem.write_obj(0x2000, DiscardSegment{0, 1, 0});
  auto parsed = parse_request(mem, chain(kTypeDiscard, 0, {{0x2000, 16}}, {{0x1000, 1}}), disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).status, kStatusUnsupp);
}

TEST_F(RequestTest, NoWritableBytesMeansDrop) {
  auto parsed = parse_request(mem, chain(kTypeIn, 0, {}, {{0x1000, 0}}), disk);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_FALSE(std::get<Rejection>(parsed).status_addr);
}

}  // namespace
}  // namespace hearth::virtio::blk
