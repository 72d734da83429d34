#include "vmm/migration/stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::migration {
namespace {

using test::error_of;
using namespace std::chrono_literals;

struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = std::make_unique<Stream>(UniqueFd(fds[0]));
    b = std::make_unique<Stream>(UniqueFd(fds[1]));
  }
  std::unique_ptr<Stream> a, b;
};

// A valid frame, captured from a real Stream::send.
std::vector<uint8_t> frame_bytes(MsgType type, std::string_view payload) {
  Pair p;
  p.a->send(type, payload);
  std::vector<uint8_t> out(24 + payload.size());
  EXPECT_EQ(::recv(p.b->fd(), out.data(), out.size(), MSG_WAITALL), static_cast<ssize_t>(out.size()));
  return out;
}

std::string receive_raw(const std::vector<uint8_t>& bytes, bool close_after = true) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  EXPECT_EQ(::write(fds[0], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  if (close_after) ::close(fds[0]);
  Stream s{UniqueFd(fds[1])};
  std::string err = error_of([&] { s.receive(1s); });
  if (!close_after) ::close(fds[0]);
  return err;
}

TEST(MigrationStream, RoundTripsMessagesOfEverySize) {
  Pair p;
  p.a->send(MsgType::kCommit);
  p.a->send(MsgType::kError, "x");
  p.a->send(MsgType::kConfig, R"({"a":1})");
  Message m = p.b->receive(1s);
  EXPECT_EQ(m.type, MsgType::kCommit);
  EXPECT_TRUE(m.payload.empty());
  m = p.b->receive(1s);
  EXPECT_EQ(m.type, MsgType::kError);
  EXPECT_EQ(m.text(), "x");
  m = p.b->receive(1s);
  EXPECT_EQ(m.type, MsgType::kConfig);
  EXPECT_EQ(m.text(), R"({"a":1})");
  EXPECT_EQ(p.a->bytes_sent(), 3 * 24 + 1 + 7u);
  EXPECT_EQ(p.b->bytes_received(), p.a->bytes_sent());
}

TEST(MigrationStream, RoundTripsAMultiMiBPayloadFromSeveralParts) {
  Pair p;
  std::vector<uint8_t> big(3u << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 131 + (i >> 12));
  std::vector<iovec> parts;
  const size_t cuts[] = {0, 1, 4096, 1u << 20, 2u << 20, big.size()};
  for (size_t i = 0; i + 1 < std::size(cuts); ++i) parts.push_back({big.data() + cuts[i], cuts[i + 1] - cuts[i]});
  std::thread sender([&] { p.a->send(MsgType::kPages, parts); });
  const Message m = p.b->receive(5s);
  sender.join();
  EXPECT_EQ(m.type, MsgType::kPages);
  EXPECT_EQ(m.payload, big);
}

TEST(MigrationStream, PreambleCarriesMagicAndVersion) {
  Pair p;
  p.a->send_preamble();
  uint8_t raw[16];
  ASSERT_EQ(::recv(p.b->fd(), raw, sizeof(raw), MSG_WAITALL), 16);
  EXPECT_EQ(std::memcmp(raw, "HEARTHMG", 8), 0);
  uint32_t version = 0;
  std::memcpy(&version, raw + 8, 4);
  EXPECT_EQ(version, kProtocolVersion);
  p.a->send_preamble();
  EXPECT_EQ(p.b->read_preamble(1s), kProtocolVersion);
}

TEST(MigrationStream, PreambleWithBadMagicOrEofFails) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const char bad[16] = "HEARTHXX";
  ASSERT_EQ(::write(fds[0], bad, sizeof(bad)), 16);
  ::close(fds[0]);
  Stream s{UniqueFd(fds[1])};
  EXPECT_NE(error_of([&] { s.read_preamble(1s); }).find("bad magic"), std::string::npos);
  EXPECT_NE(error_of([&] { s.read_preamble(1s); }).find("connection closed"), std::string::npos);
}

TEST(MigrationStream, FlippedPayloadByteIsAPayloadChecksumError) {
  auto f = frame_bytes(MsgType::kState, "hello world");
  f[24 + 3] ^= 0x01;
  EXPECT_NE(receive_raw(f).find("payload checksum"), std::string::npos);
}

TEST(MigrationStream, FlippedHeaderByteIsAHeaderChecksumError) {
  for (size_t at : {0u, 5u, 8u, 16u, 20u}) {
    auto f = frame_bytes(MsgType::kState, "hello world");
    f[at] ^= 0x40;
    EXPECT_NE(receive_raw(f).find("header checksum"), std::string::npos) << "byte " << at;
  }
}

// Rewrites the header's length and header CRC so only the length is wrong.
void set_length(std::vector<uint8_t>& f, uint64_t length) {
  std::memcpy(f.data() + 8, &length, 8);
  uint32_t crc = 0;
  // The header CRC is the stream's CRC-32 of the first 20 bytes.
  const iovec part{f.data(), 20};
  crc = crc32(std::span(&part, 1));
  std::memcpy(f.data() + 20, &crc, 4);
}

TEST(MigrationStream, LengthAboveTheLimitIsRefused) {
  auto f = frame_bytes(MsgType::kPages, "");
  set_length(f, kMaxPayloadBytes + 1);
  EXPECT_NE(receive_raw(f).find("exceeds the limit"), std::string::npos);
  Pair p;
  std::vector<uint8_t> big(kMaxPayloadBytes + 1);
  const iovec part{big.data(), big.size()};
  EXPECT_NE(error_of([&] { p.a->send(MsgType::kPages, std::span(&part, 1)); }).find("too long"), std::string::npos);
  EXPECT_EQ(p.a->bytes_sent(), 0u);
}

TEST(MigrationStream, EofMidFrameSaysTheConnectionClosed) {
  auto f = frame_bytes(MsgType::kState, "hello world");
  auto header_only = std::vector<uint8_t>(f.begin(), f.begin() + 10);
  EXPECT_NE(receive_raw(header_only).find("connection closed while reading a message header"), std::string::npos);
  auto short_payload = std::vector<uint8_t>(f.begin(), f.end() - 2);
  EXPECT_NE(receive_raw(short_payload).find("connection closed while reading a message payload"), std::string::npos);
  EXPECT_NE(receive_raw({}).find("connection closed"), std::string::npos);
}

TEST(MigrationStream, ReceiveTimesOutWhenNothingArrives) {
  Pair p;
  EXPECT_NE(error_of([&] { p.b->receive(20ms); }).find("no message within 20 ms"), std::string::npos);
  // A frame that arrives later is still received whole.
  p.a->send(MsgType::kReady);
  EXPECT_EQ(p.b->receive(1s).type, MsgType::kReady);
}

TEST(MigrationStream, UnknownTypeIsRefused) {
  auto f = frame_bytes(MsgType::kState, "abc");
  const uint32_t type = 999;
  std::memcpy(f.data(), &type, 4);
  set_length(f, 3);  // recomputes the header CRC
  EXPECT_NE(receive_raw(f).find("unknown message type 999"), std::string::npos);
}

TEST(MigrationStream, ShutDownUnblocksAReceiver) {
  Pair p;
  std::string err;
  std::thread t([&] { err = error_of([&] { p.b->receive(); }); });
  p.b->shut_down();
  t.join();
  EXPECT_NE(err.find("connection closed"), std::string::npos);
}

TEST(MigrationStream, Crc32IsTheStandardOne) {
  const char text[] = "123456789";
  const iovec parts[2] = {{const_cast<char*>(text), 4}, {const_cast<char*>(text) + 4, 5}};
  EXPECT_EQ(crc32(parts), 0xCBF43926u);
}

}  // namespace
}  // namespace hearth::migration
