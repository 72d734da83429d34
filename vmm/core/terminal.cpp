#include "vmm/core/terminal.h"

#include <unistd.h>

namespace hearth {

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  termios tio{};
  if (!::isatty(fd) || ::tcgetattr(fd, &tio) < 0) return;
  saved_ = tio;
  // Keys go to the guest as typed; Ctrl-C reaches the guest too, like Firecracker's console.
  ::cfmakeraw(&tio);
  tio.c_oflag |= OPOST;  // keep our own log lines readable
  ::tcsetattr(fd, TCSANOW, &tio);
}

RawTerminal::~RawTerminal() { restore(); }

void RawTerminal::restore() {
  if (saved_) ::tcsetattr(fd_, TCSANOW, &*saved_);
  saved_.reset();
}

}  // namespace hearth
