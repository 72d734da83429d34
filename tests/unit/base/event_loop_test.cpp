#include "vmm/base/event_loop.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hearth {
namespace {

TEST(EventLoop, PostFromAnotherThreadRunsOnTheLoopThreadInOrder) {
  EventLoop loop;
  std::thread::id loop_id;
  std::vector<std::thread::id> ran_on;
  std::vector<int> order;
  std::thread runner([&] {
    loop_id = std::this_thread::get_id();
    loop.run();
  });
  std::thread poster([&] {
    for (int i = 0; i < 3; ++i) {
      loop.post([&, i] {
        ran_on.push_back(std::this_thread::get_id());
        order.push_back(i);
        if (i == 2) loop.stop();
      });
    }
  });
  poster.join();
  runner.join();  // returns only once the last task stopped the loop
  ASSERT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (const auto& id : ran_on) EXPECT_EQ(id, loop_id);
  EXPECT_NE(loop_id, std::this_thread::get_id());
}

TEST(EventLoop, PostedTaskMayPostAnother) {
  EventLoop loop;
  int ran = 0;
  loop.post([&] {
    ++ran;
    loop.post([&] {
      ++ran;
      loop.stop();
    });
  });
  loop.run();
  EXPECT_EQ(ran, 2);
}

}  // namespace
}  // namespace hearth
