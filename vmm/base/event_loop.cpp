#include "vmm/base/event_loop.h"

#include <array>
#include <cerrno>

#include "vmm/base/error.h"

namespace hearth {

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw_errno("epoll_create1");
  add(stop_event_.fd(), EPOLLIN, [this](uint32_t) { stop_event_.consume(); });
  add(posted_event_.fd(), EPOLLIN, [this](uint32_t) {
    posted_event_.consume();
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard lock(mutex_);
      tasks.swap(posted_);
    }
    for (auto& task : tasks) task();
  });
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  posted_event_.signal();
}

void EventLoop::add(int fd, uint32_t events, Handler handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  std::lock_guard lock(mutex_);
  // Registered first, recorded second: a failed add (EEXIST included) leaves the loop as it was.
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno(fmt::format("epoll_ctl add fd {}", fd));
  handlers_[fd] = std::make_shared<Handler>(std::move(handler));
}

void EventLoop::modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) throw_errno(fmt::format("epoll_ctl mod fd {}", fd));
}

void EventLoop::remove(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  std::lock_guard lock(mutex_);
  handlers_.erase(fd);
}

void EventLoop::run_once(int timeout_ms) {
  std::array<epoll_event, 32> events{};
  int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return;
    throw_errno("epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    std::shared_ptr<Handler> handler;
    {
      std::lock_guard lock(mutex_);
      auto it = handlers_.find(events[i].data.fd);
      if (it == handlers_.end()) continue;  // removed by an earlier handler in this batch
      handler = it->second;
    }
    (*handler)(events[i].events);
  }
}

void EventLoop::run() {
  while (!stopped()) run_once(-1);
}

void EventLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  stop_event_.signal();
}

bool EventLoop::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

}  // namespace hearth
