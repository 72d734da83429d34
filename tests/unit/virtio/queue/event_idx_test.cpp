#include "virtio/queue/event_idx.h"

#include <gtest/gtest.h>

namespace hearth::virtio {
namespace {

TEST(VringNeedEvent, NotifiesOnlyWhenEventIdxIsCrossed) {
  // Used idx went 10 -> 13: events at 10, 11, 12 were crossed; 13 and 9 were not.
  EXPECT_TRUE(vring_need_event(10, 13, 10));
  EXPECT_TRUE(vring_need_event(12, 13, 10));
  EXPECT_FALSE(vring_need_event(13, 13, 10));
  EXPECT_FALSE(vring_need_event(9, 13, 10));
  EXPECT_FALSE(vring_need_event(10, 10, 10));  // nothing added
}

TEST(VringNeedEvent, WrapsAroundSixteenBits) {
  EXPECT_TRUE(vring_need_event(0xffff, 2, 0xfffe));   // crossed 0xffff while wrapping
  EXPECT_TRUE(vring_need_event(0, 2, 0xfffe));
  EXPECT_TRUE(vring_need_event(1, 2, 0xfffe));
  EXPECT_FALSE(vring_need_event(2, 2, 0xfffe));
  EXPECT_FALSE(vring_need_event(0xfffd, 2, 0xfffe));  // behind the old index
}

}  // namespace
}  // namespace hearth::virtio
