#pragma once
// Puts a terminal into raw mode for the serial console and restores it on destruction.
#include <termios.h>

#include <optional>

namespace hearth {

class RawTerminal {
 public:
  // Does nothing when `fd` is not a terminal.
  explicit RawTerminal(int fd);
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal();
  // For signal-safe restore paths (fatal errors): restores now, once.
  void restore();

 private:
  int fd_;
  std::optional<termios> saved_;
};

}  // namespace hearth
