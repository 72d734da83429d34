#include "vmm/migration/stream.h"

#include <lzma.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::migration {
namespace {

struct FrameHeader {
  uint32_t type;
  uint32_t flags;
  uint64_t length;
  uint32_t payload_crc;
  uint32_t header_crc;  // of the 20 bytes before it
};
static_assert(sizeof(FrameHeader) == 24);

struct Preamble {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
};
static_assert(sizeof(Preamble) == 16);

uint32_t header_crc(const FrameHeader& h) {
  return lzma_crc32(reinterpret_cast<const uint8_t*>(&h), offsetof(FrameHeader, header_crc), 0);
}

}  // namespace

std::string_view to_string(MsgType type) {
  switch (type) {
    case MsgType::kConfig: return "config";
    case MsgType::kConfigAck: return "config-ack";
    case MsgType::kError: return "error";
    case MsgType::kRound: return "round";
    case MsgType::kPages: return "pages";
    case MsgType::kState: return "state";
    case MsgType::kReady: return "ready";
    case MsgType::kCommit: return "commit";
    case MsgType::kResumed: return "resumed";
    case MsgType::kPostcopy: return "postcopy";
    case MsgType::kPageRequest: return "page-request";
    case MsgType::kPostcopyDone: return "postcopy-done";
  }
  return "unknown";
}

uint32_t crc32(std::span<const iovec> parts) {
  uint32_t crc = 0;
  for (const auto& p : parts) crc = lzma_crc32(static_cast<const uint8_t*>(p.iov_base), p.iov_len, crc);
  return crc;
}

void Stream::send_preamble() {
  Preamble p{};
  std::memcpy(p.magic, kMagic, sizeof(kMagic));
  p.version = kProtocolVersion;
  const iovec part{&p, sizeof(p)};
  std::lock_guard lock(send_mutex_);
  size_t done = 0;
  while (done < sizeof(p)) {
    const ssize_t n = ::send(fd_.get(), reinterpret_cast<const char*>(&p) + done, sizeof(p) - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(fmt::format("migration stream: sending the preamble: {}", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  (void)part;
  bytes_sent_ += sizeof(p);
}

uint32_t Stream::read_preamble(std::chrono::milliseconds timeout) {
  wait_readable(timeout, "the peer's preamble");
  Preamble p{};
  read_exact(&p, sizeof(p), "the preamble");
  if (std::memcmp(p.magic, kMagic, sizeof(kMagic)) != 0) {
    throw Error("migration stream: the peer is not a Hearth migration stream (bad magic)");
  }
  return p.version;
}

void Stream::send(MsgType type, std::string_view bytes) {
  const iovec part{const_cast<char*>(bytes.data()), bytes.size()};
  send(type, std::span(&part, bytes.empty() ? 0 : 1));
}

void Stream::send(MsgType type, std::span<const iovec> parts) {
  FrameHeader h{};
  h.type = static_cast<uint32_t>(type);
  for (const auto& p : parts) h.length += p.iov_len;
  if (h.length > kMaxPayloadBytes) throw Error(fmt::format("migration stream: a {} message of {} bytes is too long", to_string(type), h.length));
  h.payload_crc = crc32(parts);
  h.header_crc = header_crc(h);
  std::vector<iovec> iov;
  iov.reserve(parts.size() + 1);
  iov.push_back({&h, sizeof(h)});
  for (const auto& p : parts) {
    if (p.iov_len) iov.push_back(p);
  }
  std::lock_guard lock(send_mutex_);
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    const ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw Error(fmt::format("migration stream: sending {} ({} bytes): {}", to_string(type), h.length,
                              n < 0 ? std::strerror(errno) : "connection closed"));
    }
    bytes_sent_ += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (left > 0 && first < iov.size()) {  // drop what went; trim a part that went half
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
  }
}

void Stream::wait_readable(std::chrono::milliseconds timeout, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw Error(fmt::format("migration stream: no {} within {} ms", what, timeout.count()));
    pollfd p{fd_.get(), POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) throw_errno("migration stream: poll");
    if (rc > 0) return;
  }
}

void Stream::read_exact(void* data, size_t len, const char* what) {
  auto* p = static_cast<uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = ::recv(fd_.get(), p, len, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("migration stream: reading {}: {}", what, std::strerror(errno)));
    if (n == 0) throw Error(fmt::format("migration stream: the connection closed while reading {}", what));
    p += n;
    len -= static_cast<size_t>(n);
    bytes_received_ += static_cast<uint64_t>(n);
  }
}

Message Stream::receive(std::optional<std::chrono::milliseconds> timeout) {
  if (timeout) wait_readable(*timeout, "message");
  FrameHeader h{};
  read_exact(&h, sizeof(h), "a message header");
  if (h.header_crc != header_crc(h)) {
    throw Error(fmt::format("migration stream: message header checksum mismatch (got {:#010x}, computed {:#010x})",
                            h.header_crc, header_crc(h)));
  }
  if (h.length > kMaxPayloadBytes) {
    throw Error(fmt::format("migration stream: a message of {} bytes exceeds the limit of {}", h.length, kMaxPayloadBytes));
  }
  Message m;
  m.type = static_cast<MsgType>(h.type);
  m.payload.resize(h.length);
  read_exact(m.payload.data(), m.payload.size(), "a message payload");
  const iovec part{m.payload.data(), m.payload.size()};
  const uint32_t crc = crc32(std::span(&part, 1));
  if (crc != h.payload_crc) {
    throw Error(fmt::format("migration stream: {} message of {} bytes: payload checksum mismatch (got {:#010x}, "
                            "computed {:#010x})",
                            to_string(m.type), h.length, h.payload_crc, crc));
  }
  if (to_string(m.type) == "unknown") throw Error(fmt::format("migration stream: unknown message type {}", h.type));
  return m;
}

void Stream::shut_down() const { ::shutdown(fd_.get(), SHUT_RDWR); }

}  // namespace hearth::migration
