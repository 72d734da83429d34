// libFuzzer target: untrusted bytes as an incoming migration stream. The bytes go into a socketpair and
// Stream::read_preamble / Stream::receive decode them; a kPages message is applied to a small guest (two
// 64 KiB regions at 0 and 1 MiB) and a kState message is parsed as a SavedState. Only hearth::Error may
// come out; anything else (another exception type, a sanitizer report, a write outside guest RAM) is a bug.
// Seeds: tests/fuzz/migration_corpus (written by tests/fuzz/make_migration_seeds.py).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "vmm/base/error.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/migration/pages.h"
#include "vmm/migration/saved_state_json.h"
#include "vmm/migration/stream.h"

namespace {

using namespace hearth;
using namespace hearth::migration;

// Under the socket's default buffer, so one write never blocks.
constexpr size_t kMaxInput = 64 * 1024;

const GuestMemory& guest() {
  static const GuestMemory memory = GuestMemory::create_anonymous({{0, 64 * 1024}, {1 << 20, 64 * 1024}});
  return memory;
}

void consume(Stream& stream, bool with_preamble) {
  try {
    if (with_preamble) stream.read_preamble(std::chrono::milliseconds(1000));
    for (int i = 0; i < 64; ++i) {
      const Message m = stream.receive(std::chrono::milliseconds(1000));
      try {
        if (m.type == MsgType::kPages) {
          MemoryPageSink sink(guest());
          apply_page_batch(m, guest(), sink);
        } else if (m.type == MsgType::kState || m.type == MsgType::kConfig) {
          const auto j = nlohmann::json::parse(m.payload.begin(), m.payload.end(), nullptr, false);
          if (!j.is_discarded()) parse_saved_state(j);
        }
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInput) return 0;
  // Try the bytes as a whole stream (preamble first) and as frames only, so frame decoding is reached even
  // when the fuzzer breaks the magic.
  for (const bool with_preamble : {true, false}) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    const int buf = 4 * kMaxInput;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fds[0], data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    ::close(fds[0]);  // the receiver then sees EOF, never waits for the timeout
    Stream stream{UniqueFd(fds[1])};
    consume(stream, with_preamble);
  }
  return 0;
}
