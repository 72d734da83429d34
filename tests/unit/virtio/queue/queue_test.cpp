#include "virtio/queue/queue.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/virtio/test_ring.h"

namespace hearth::virtio {
namespace {

using test::TestRing;

constexpr uint64_t kMemSize = 0x100000;

class QueueTest : public ::testing::Test {
 protected:
  GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  TestRing ring{mem, 16};
  Queue q = ring.make_queue();

  std::optional<DescriptorChain> pop_ok() {
    auto r = q.pop(mem);
    EXPECT_TRUE(std::holds_alternative<std::optional<DescriptorChain>>(r))
        << to_string(std::get<QueueError>(r));
    if (!std::holds_alternative<std::optional<DescriptorChain>>(r)) return std::nullopt;
    return std::get<std::optional<DescriptorChain>>(r);
  }
  QueueError pop_err() {
    auto r = q.pop(mem);
    EXPECT_TRUE(std::holds_alternative<QueueError>(r));
    return std::holds_alternative<QueueError>(r) ? std::get<QueueError>(r) : QueueError::kNotReady;
  }
};

TEST_F(QueueTest, ValidityChecksSizeAlignmentAndPlacement) {
  EXPECT_TRUE(q.is_valid(mem));
  Queue bad = q;
  bad.set_size(12);  // not a power of two
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_size(512);  // above max
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_size(0);
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_desc_table(0x1008);  // descriptors need 16-byte alignment
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_avail_ring(0x3001);
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_used_ring(0x4002);
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_used_ring(kMemSize - 8);  // ring runs past the end of RAM
  EXPECT_FALSE(bad.is_valid(mem));
  bad = q;
  bad.set_ready(false);
  EXPECT_FALSE(bad.is_valid(mem));
}

TEST_F(QueueTest, PopsChainWithReadableThenWritableBuffers) {
  ring.set_desc(3, 0x10000, 16, kDescFlagNext, 5);
  ring.set_desc(5, 0x11000, 512, kDescFlagNext | kDescFlagWrite, 7);
  ring.set_desc(7, 0x12000, 1, kDescFlagWrite);
  ring.push_avail(3);
  auto chain = pop_ok();
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->head, 3);
  ASSERT_EQ(chain->readable.size(), 1u);
  EXPECT_EQ(chain->readable[0].addr, 0x10000u);
  ASSERT_EQ(chain->writable.size(), 2u);
  EXPECT_EQ(chain->writable[1].addr, 0x12000u);
  EXPECT_EQ(chain->readable_len, 16u);
  EXPECT_EQ(chain->writable_len, 513u);
  EXPECT_FALSE(pop_ok().has_value());  // empty now
}

TEST_F(QueueTest, UndoPopReturnsTheSameChainAgain) {
  ring.set_desc(1, 0x10000, 8);
  ring.push_avail(1);
  ASSERT_TRUE(pop_ok());
  q.undo_pop();
  auto again = pop_ok();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->head, 1);
}

TEST_F(QueueTest, HeadIndexOutOfRange) {
  ring.push_avail(16);
  EXPECT_EQ(pop_err(), QueueError::kDescIndexOutOfRange);
}

TEST_F(QueueTest, NextIndexOutOfRange) {
  ring.set_desc(0, 0x10000, 8, kDescFlagNext, 99);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kDescIndexOutOfRange);
}

TEST_F(QueueTest, LoopIsDetected) {
  ring.set_desc(0, 0x10000, 8, kDescFlagNext, 1);
  ring.set_desc(1, 0x10000, 8, kDescFlagNext, 0);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kChainTooLong);
}

TEST_F(QueueTest, AddressPlusLengthOverflowIsRejected) {
  ring.set_desc(0, UINT64_MAX - 10, 100);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kDescOutOfMemory);
}

TEST_F(QueueTest, BufferOutsideGuestRamIsRejected) {
  ring.set_desc(0, kMemSize - 4, 8);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kDescOutOfMemory);
}

TEST_F(QueueTest, ReadableAfterWritableIsRejected) {
  ring.set_desc(0, 0x10000, 8, kDescFlagNext | kDescFlagWrite, 1);
  ring.set_desc(1, 0x11000, 8);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kReadableAfterWritable);
}

TEST_F(QueueTest, AvailIdxJumpBeyondQueueSizeBreaksTheQueue) {
  ring.set_avail_idx(17);
  EXPECT_EQ(pop_err(), QueueError::kAvailIdxJump);
  EXPECT_TRUE(q.broken());
  ring.set_avail_idx(0);
  EXPECT_EQ(pop_err(), QueueError::kNotReady);  // stays broken until reset
  q.reset();
  EXPECT_FALSE(q.broken());
}

TEST_F(QueueTest, AvailIdxOfExactlyQueueSizeIsFine) {
  for (uint16_t i = 0; i < 16; ++i) {
    ring.set_desc(i, 0x10000, 8);
    ring.push_avail(i);
  }
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(pop_ok());
}

class IndirectTest : public QueueTest {
 protected:
  static constexpr uint64_t kTable = 0x20000;
  void SetUp() override { q.set_indirect(true); }
};

TEST_F(IndirectTest, WalksIndirectTable) {
  ring.set_table_desc(kTable, 0, 0x10000, 16, kDescFlagNext, 1);
  ring.set_table_desc(kTable, 1, 0x11000, 4096, kDescFlagNext | kDescFlagWrite, 2);
  ring.set_table_desc(kTable, 2, 0x12000, 1, kDescFlagWrite);
  ring.set_desc(4, kTable, 3 * 16, kDescFlagIndirect);
  ring.push_avail(4);
  auto chain = pop_ok();
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->head, 4);
  EXPECT_EQ(chain->readable.size(), 1u);
  EXPECT_EQ(chain->writable.size(), 2u);
  EXPECT_EQ(chain->writable_len, 4097u);
}

TEST_F(IndirectTest, RequiresTheFeature) {
  q.set_indirect(false);
  ring.set_table_desc(kTable, 0, 0x10000, 16);
  ring.set_desc(0, kTable, 16, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kIndirectNotNegotiated);
}

TEST_F(IndirectTest, LengthMustBeNonZeroMultipleOf16) {
  ring.set_desc(0, kTable, 24, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kIndirectBadLength);
  q.reset();
  q = ring.make_queue();
  q.set_indirect(true);
  ring.set_avail_idx(0);
  ring.set_desc(0, kTable, 0, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kIndirectBadLength);
}

TEST_F(IndirectTest, NestedIndirectIsRejected) {
  ring.set_table_desc(kTable, 0, kTable + 0x100, 16, kDescFlagIndirect);
  ring.set_desc(0, kTable, 16, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kIndirectNested);
}

TEST_F(IndirectTest, IndirectWithNextIsRejected) {
  ring.set_table_desc(kTable, 0, 0x10000, 16);
  ring.set_desc(0, kTable, 16, kDescFlagIndirect | kDescFlagNext, 1);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kIndirectWithNext);
}

TEST_F(IndirectTest, TableOutsideRamIsRejected) {
  ring.set_desc(0, kMemSize - 16, 32, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kDescOutOfMemory);
}

TEST_F(IndirectTest, LoopInsideTableIsDetected) {
  ring.set_table_desc(kTable, 0, 0x10000, 16, kDescFlagNext, 1);
  ring.set_table_desc(kTable, 1, 0x10000, 16, kDescFlagNext, 0);
  ring.set_desc(0, kTable, 32, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kChainTooLong);
}

TEST_F(IndirectTest, NextBeyondTableIsRejected) {
  ring.set_table_desc(kTable, 0, 0x10000, 16, kDescFlagNext, 2);
  ring.set_desc(0, kTable, 32, kDescFlagIndirect);
  ring.push_avail(0);
  EXPECT_EQ(pop_err(), QueueError::kDescIndexOutOfRange);
}

TEST_F(QueueTest, AddUsedPublishesElementAndIndex) {
  ASSERT_FALSE(q.add_used(mem, 7, 513));
  EXPECT_EQ(ring.used_idx(), 1);
  EXPECT_EQ(ring.used(0).id, 7u);
  EXPECT_EQ(ring.used(0).len, 513u);
  EXPECT_EQ(q.add_used(mem, 16, 0), QueueError::kBadUsedHead);
}

TEST_F(QueueTest, IndicesWrapAtSixteenBits) {
  QueueState s = q.save();
  s.next_avail = 0xffff;
  s.next_used = 0xffff;
  q.restore(s);
  ring.set_avail_idx(0xffff);
  ring.set_desc(2, 0x10000, 8);
  ring.push_avail(2);  // avail idx wraps to 0
  auto chain = pop_ok();
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->head, 2);
  ASSERT_FALSE(q.add_used(mem, 2, 8));
  EXPECT_EQ(ring.used_idx(), 0);
  EXPECT_EQ(ring.used(0xffff).id, 2u);
}

TEST_F(QueueTest, NoInterruptFlagSuppressesNotificationWithoutEventIdx) {
  ASSERT_FALSE(q.add_used(mem, 0, 0));
  EXPECT_TRUE(q.needs_notification(mem));
  ring.set_avail_flags(kAvailFlagNoInterrupt);
  ASSERT_FALSE(q.add_used(mem, 0, 0));
  EXPECT_FALSE(q.needs_notification(mem));
}

TEST_F(QueueTest, EventIdxNotifiesWhenUsedEventIsCrossed) {
  q.set_event_idx(true);
  ASSERT_FALSE(q.add_used(mem, 0, 0));
  EXPECT_TRUE(q.needs_notification(mem));  // first one always
  ring.set_used_event(3);                   // driver: tell me when used idx passes 3
  ASSERT_FALSE(q.add_used(mem, 0, 0));      // used idx 2
  EXPECT_FALSE(q.needs_notification(mem));
  ASSERT_FALSE(q.add_used(mem, 0, 0));      // 3
  EXPECT_FALSE(q.needs_notification(mem));
  ASSERT_FALSE(q.add_used(mem, 0, 0));      // 4: crossed 3
  EXPECT_TRUE(q.needs_notification(mem));
  ASSERT_FALSE(q.add_used(mem, 0, 0));      // 5
  EXPECT_FALSE(q.needs_notification(mem));
}

TEST_F(QueueTest, EnableNotificationPublishesAvailEventAndSeesNewWork) {
  q.set_event_idx(true);
  ring.set_desc(0, 0x10000, 8);
  ring.push_avail(0);
  ASSERT_TRUE(pop_ok());
  auto more = q.enable_notification(mem);
  ASSERT_TRUE(std::holds_alternative<bool>(more));
  EXPECT_FALSE(std::get<bool>(more));
  EXPECT_EQ(ring.avail_event(), 1);
  ring.push_avail(0);
  more = q.enable_notification(mem);
  EXPECT_TRUE(std::get<bool>(more));
}

TEST_F(QueueTest, StateRoundTripsThroughJson) {
  q.set_event_idx(true);
  ring.set_desc(0, 0x10000, 8);
  ring.push_avail(0);
  ASSERT_TRUE(pop_ok());
  ASSERT_FALSE(q.add_used(mem, 0, 8));
  const QueueState s = q.save();
  nlohmann::json j = s;
  const auto back = j.get<QueueState>();
  EXPECT_EQ(back, s);
  Queue other(256);
  other.restore(back);
  EXPECT_EQ(other.save(), s);
  EXPECT_EQ(s.next_avail, 1);
  EXPECT_EQ(s.next_used, 1);
}

TEST_F(QueueTest, NotReadyQueueDoesNothing) {
  q.set_ready(false);
  EXPECT_EQ(pop_err(), QueueError::kNotReady);
}

}  // namespace
}  // namespace hearth::virtio
