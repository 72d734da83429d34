#include "api/request_queue.h"

#include <poll.h>

#include <thread>

#include <gtest/gtest.h>

#include "tests/unit/api/fake_controller.h"
#include "vmm/base/event_loop.h"

namespace hearth::api {
namespace {

TEST(RequestQueue, CallsRunOnTheVmmThread) {
  RequestQueue queue;
  testing::FakeController fake;
  EventLoop loop;
  std::thread::id vmm_thread;
  loop.add(queue.eventfd(), EPOLLIN, [&](uint32_t) { queue.drain(fake); });
  std::thread vmm([&] {
    vmm_thread = std::this_thread::get_id();
    loop.run();
  });
  std::thread::id ran_on;
  Result<> r = queue.call([&](Controller& c) {
    ran_on = std::this_thread::get_id();
    return c.pause();
  });
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(ran_on, vmm_thread);
  EXPECT_NE(ran_on, std::this_thread::get_id());

  fake.fail = Fault{400, "nope"};
  Result<MachineConfig> m = queue.call([](Controller& c) { return c.get_machine_config(); });
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.fault().message, "nope");
  EXPECT_THROW(queue.run([](Controller&) { throw std::runtime_error("x"); }), std::runtime_error);
  loop.stop();
  vmm.join();
  EXPECT_EQ(fake.calls, (std::vector<std::string>{"pause", "get_machine_config"}));
}

TEST(RequestQueue, ShutdownReleasesWaitingCaller) {
  RequestQueue queue;
  std::thread api([&] {
    Result<> r = queue.call([](Controller& c) { return c.pause(); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.fault().status, 503);
  });
  // Nobody drains: wait until the call is queued (eventfd signalled), then shut down.
  while (true) {
    pollfd p{queue.eventfd(), POLLIN, 0};
    if (::poll(&p, 1, 10) == 1) break;
  }
  queue.shutdown();
  api.join();
  EXPECT_EQ(queue.call([](Controller& c) { return c.pause(); }).fault().status, 503);
}

}  // namespace
}  // namespace hearth::api
