#pragma once
// The migration stream: a 16-byte preamble each way (magic "HEARTHMG", protocol version), then framed
// messages. Each frame has a 24-byte header (type, flags, payload length, CRC-32 of the payload, CRC-32
// of the header's first 20 bytes); a frame that fails either check, is too long or ends early is an
// error naming what was wrong. docs/migration.md describes every message.
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/base/fd.h"

namespace hearth::migration {

inline constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'M', 'G'};
inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint64_t kMaxPayloadBytes = 64u << 20;

enum class MsgType : uint32_t {
  kConfig = 1,         // source: JSON {hearth_version, vm_config, memory}
  kConfigAck = 2,      // destination: the VM is built and waits for memory
  kError = 3,          // either side: UTF-8 reason; the sender gives up
  kRound = 4,          // source: u32 round number, pages of that round follow
  kPages = 5,          // source: a page batch (pages.h)
  kState = 6,          // source: JSON SavedState (vCPUs, KVM, devices); the VM is paused
  kReady = 7,          // destination: state restored, VM paused, waiting for kCommit
  kCommit = 8,         // source: the VM is yours; the source will never run it again
  kResumed = 9,        // destination: the VM runs
  kPostcopy = 10,      // source: u64 words of the bitmap of pages the destination must fetch, per region
  kPageRequest = 11,   // destination (post-copy): u64 guest addresses it faulted on
  kPostcopyDone = 12,  // source: every page has been sent
};

std::string_view to_string(MsgType type);

struct Message {
  MsgType type{};
  std::vector<uint8_t> payload;
  std::string_view text() const { return {reinterpret_cast<const char*>(payload.data()), payload.size()}; }
};

class Stream {
 public:
  explicit Stream(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

  // The preamble: send ours; read the peer's and return its version (Error on bad magic or EOF).
  void send_preamble();
  uint32_t read_preamble(std::chrono::milliseconds timeout);

  // Thread-safe against other senders (post-copy has two).
  void send(MsgType type, std::span<const iovec> parts);
  void send(MsgType type, std::string_view bytes = {});
  // One frame; Error on EOF, a bad checksum or length, or (with a timeout) when none arrives in time.
  Message receive(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // Unblocks a thread in send or receive (from another thread); they then fail.
  void shut_down() const;
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  void read_exact(void* data, size_t len, const char* what);
  void wait_readable(std::chrono::milliseconds timeout, const char* what);

  UniqueFd fd_;
  std::mutex send_mutex_;
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
};

uint32_t crc32(std::span<const iovec> parts);

}  // namespace hearth::migration
