#include "vmm/core/serial_console.h"

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "devices/serial/uart16550.h"

namespace hearth {
namespace {
constexpr int kWriteTimeoutMs = 100;
}  // namespace

SerialConsole::SerialConsole(EventLoop& loop, int in_fd, std::shared_ptr<Uart16550> uart)
    : loop_(loop), in_fd_(in_fd), uart_(std::move(uart)), terminal_(in_fd) {
  uart_->set_input_space_callback([this] { space_event_.signal(); });
  loop_.add(space_event_.fd(), EPOLLIN, [this](uint32_t) {
    space_event_.consume();
    on_space();
  });
  if (in_fd_ < 0) return;
  try {
    loop_.add(in_fd_, EPOLLIN, [this](uint32_t) { on_input_readable(); });
    registered_ = reading_ = true;
  } catch (const std::exception& e) {
    // Regular files and /dev/null cannot be polled: run without console input.
    SPDLOG_DEBUG("serial console: no input from fd {}: {}", in_fd_, e.what());
  }
}

SerialConsole::~SerialConsole() {
  if (registered_) loop_.remove(in_fd_);
  loop_.remove(space_event_.fd());
  uart_->set_input_space_callback(nullptr);
}

void SerialConsole::write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    // A reader that stops reading must not stall the vCPU (which holds the UART) forever: wait a
    // bounded time for room, then drop. EINTR is a vCPU kick (pause/stop): give up at once too.
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, kWriteTimeoutMs) <= 0) return;
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n <= 0) return;
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

void SerialConsole::set_reading(bool reading) {
  if (!registered_ || reading == reading_) return;
  loop_.modify(in_fd_, reading ? uint32_t{EPOLLIN} : 0u);
  reading_ = reading;
}

void SerialConsole::push_pending() {
  size_t taken = uart_->enqueue_input(pending_);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
  set_reading(pending_.empty());
}

void SerialConsole::on_input_readable() {
  std::array<uint8_t, Uart16550::kFifoSize> buf{};
  ssize_t n = ::read(in_fd_, buf.data(), buf.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // EOF or error: the guest simply gets no more input
    loop_.remove(in_fd_);
    registered_ = reading_ = false;
    return;
  }
  pending_.insert(pending_.end(), buf.begin(), buf.begin() + n);
  push_pending();
}

void SerialConsole::on_space() {
  if (!pending_.empty()) push_pending();
}

}  // namespace hearth
