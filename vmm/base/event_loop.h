#pragma once
// The VMM thread's epoll loop: fds with callbacks, run until stop().
#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "vmm/base/eventfd.h"
#include "vmm/base/fd.h"

namespace hearth {

class EventLoop {
 public:
  using Handler = std::function<void(uint32_t events)>;

  EventLoop();
  // Registers `fd` for `events` (EPOLLIN, ...); the handler runs on the loop thread.
  void add(int fd, uint32_t events, Handler handler);
  void modify(int fd, uint32_t events);
  void remove(int fd);
  // Runs handlers until stop() is called (from any thread).
  void run();
  // Runs at most one batch of ready handlers, waiting up to timeout_ms (-1: forever).
  void run_once(int timeout_ms);
  void stop();
  bool stopped() const;
  // Any thread: runs `task` on the loop thread soon (never, if the loop has stopped).
  void post(std::function<void()> task);

 private:
  UniqueFd epoll_;
  EventFd stop_event_;
  EventFd posted_event_;
  std::vector<std::function<void()>> posted_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  // shared_ptr so a handler may remove itself (or others) while running.
  std::unordered_map<int, std::shared_ptr<Handler>> handlers_;
};

}  // namespace hearth
