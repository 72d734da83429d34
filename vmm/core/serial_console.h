#pragma once
// Connects the guest's UART to the process: output to a fd, input from a fd read on the event loop.
// Input is read only while the UART has room, so nothing typed is lost when the guest is slow.
#include <cstdint>
#include <span>
#include <memory>
#include <vector>

#include "vmm/base/eventfd.h"
#include "vmm/base/event_loop.h"
#include "vmm/core/terminal.h"

namespace hearth {

class Uart16550;

class SerialConsole {
 public:
  // `in_fd` < 0 means no input. A terminal on `in_fd` is put into raw mode until destruction.
  SerialConsole(EventLoop& loop, int in_fd, std::shared_ptr<Uart16550> uart);
  ~SerialConsole();
  SerialConsole(const SerialConsole&) = delete;
  SerialConsole& operator=(const SerialConsole&) = delete;

  // Writes every byte to `fd`, retrying short writes; errors drop the output (the guest must not stall).
  static void write_all(int fd, std::span<const uint8_t> bytes);

 private:
  void on_input_readable();
  void on_space();
  void push_pending();
  void set_reading(bool reading);

  EventLoop& loop_;
  int in_fd_;
  std::shared_ptr<Uart16550> uart_;
  RawTerminal terminal_;
  EventFd space_event_;
  std::vector<uint8_t> pending_;
  bool registered_ = false;
  bool reading_ = false;
};

}  // namespace hearth
