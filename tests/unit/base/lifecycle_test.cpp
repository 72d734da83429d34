// The one lifecycle both the VMM and the API's pre-boot rules follow.
#include "vmm/config/lifecycle.h"

#include <gtest/gtest.h>

namespace hearth {
namespace {

TEST(Lifecycle, AllowedTransitions) {
  EXPECT_EQ(next_state(VmState::kNotStarted, VmEvent::kStart), VmState::kRunning);
  EXPECT_EQ(next_state(VmState::kNotStarted, VmEvent::kRestore), VmState::kPaused);
  EXPECT_EQ(next_state(VmState::kRunning, VmEvent::kPause), VmState::kPaused);
  EXPECT_EQ(next_state(VmState::kPaused, VmEvent::kResume), VmState::kRunning);
  EXPECT_EQ(next_state(VmState::kRunning, VmEvent::kStop), VmState::kStopped);
  EXPECT_EQ(next_state(VmState::kPaused, VmEvent::kStop), VmState::kStopped);
}

TEST(Lifecycle, RefusedTransitions) {
  EXPECT_FALSE(next_state(VmState::kRunning, VmEvent::kStart));
  EXPECT_FALSE(next_state(VmState::kPaused, VmEvent::kStart));
  EXPECT_FALSE(next_state(VmState::kRunning, VmEvent::kRestore));
  EXPECT_FALSE(next_state(VmState::kNotStarted, VmEvent::kPause));
  EXPECT_FALSE(next_state(VmState::kPaused, VmEvent::kPause));
  EXPECT_FALSE(next_state(VmState::kRunning, VmEvent::kResume));
  EXPECT_FALSE(next_state(VmState::kStopped, VmEvent::kResume));
  EXPECT_FALSE(next_state(VmState::kStopped, VmEvent::kStop));
}

TEST(Lifecycle, FirecrackerStateNames) {
  EXPECT_EQ(describe(VmState::kNotStarted), "Not started");
  EXPECT_EQ(describe(VmState::kRunning), "Running");
  EXPECT_EQ(describe(VmState::kPaused), "Paused");
}

}  // namespace
}  // namespace hearth
