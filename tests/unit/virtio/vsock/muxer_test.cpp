// The uds_path checks (PUT-time and bind-time) and the muxer without guest memory.
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/unit/virtio/vsock/vsock_harness.h"
#include "virtio/vsock/kind.h"
#include "virtio/vsock/packet.h"
#include "vmm/base/error.h"

namespace hearth::virtio::vsock::test {
namespace {

TEST(VsockPath, FreeAbsentAndStalePathsPassLiveSocketsAndFilesFail) {
  TempDir dir;
  const std::string path = dir.path() + "/s";
  EXPECT_NO_THROW(check_uds_path_free(path));
  {
    UniqueFd live = unix_listen(path);
    ASSERT_TRUE(live);
    EXPECT_THROW(check_uds_path_free(path), Error);
    EXPECT_THROW(listen_unix(path), Error);
  }
  // The listener is gone, its file stays: stale, replaced by a bind.
  EXPECT_NO_THROW(check_uds_path_free(path));
  EXPECT_TRUE(listen_unix(path));
  const std::string file = dir.path() + "/f";
  std::ofstream(file) << "x";
  EXPECT_THROW(check_uds_path_free(file), Error);
}

TEST(VsockKind, ValidatesFieldsAndNamesThem) {
  const auto& kind = vsock_kind().config;
  auto msg = [&](const nlohmann::json& body) {
    try {
      kind.validate(body, "vsock");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({{"guest_cid", 2}, {"uds_path", "/tmp/x"}}).find("vsock.guest_cid"), std::string::npos);
  EXPECT_NE(msg({{"guest_cid", 3}}).find("uds_path"), std::string::npos);
  EXPECT_NE(msg({{"guest_cid", 3}, {"uds_path", ""}}).find("vsock.uds_path"), std::string::npos);
  EXPECT_NE(msg({{"guest_cid", 3}, {"uds_path", std::string(100, 'a')}}).find("vsock.uds_path"), std::string::npos);
  EXPECT_NE(msg({{"guest_cid", 3}, {"uds_path", "/x"}, {"vsock_id", 5}}).find("vsock.vsock_id"), std::string::npos);
  EXPECT_NE(msg({{"guest_cid", 3}, {"uds_path", "/x"}, {"cid", 5}}).find("cid"), std::string::npos);
  const auto ok = kind.validate({{"guest_cid", 3}, {"uds_path", "/x"}, {"vsock_id", "vsock0"}}, "vsock");
  EXPECT_EQ(ok, (nlohmann::json{{"guest_cid", 3}, {"uds_path", "/x"}}));

  TempDir dir;
  const std::string path = dir.path() + "/in-use";
  UniqueFd live = unix_listen(path);
  try {
    kind.check_host({{"guest_cid", 3}, {"uds_path", path}}, "vsock");
    ADD_FAILURE() << "check_host accepted a path in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vsock.uds_path"), std::string::npos) << e.what();
  }
}

TEST(VsockPacket, HeaderChecks) {
  PacketHeader h;
  h.op = kOpRw;
  h.len = 10;
  EXPECT_EQ(check_tx_header(h, kHeaderSize + 10), nullptr);
  EXPECT_NE(check_tx_header(h, kHeaderSize + 9), nullptr);
  EXPECT_NE(check_tx_header(h, 20), nullptr);
  h.len = kMaxPacketData + 1;
  EXPECT_NE(check_tx_header(h, uint64_t{1} << 20), nullptr);
  h.op = kOpRequest;
  h.len = 1;
  EXPECT_NE(check_tx_header(h, kHeaderSize + 1), nullptr);
}

TEST(VsockMuxer, WithoutALoopRefusesGuestConnectionsWithRst) {
  std::mutex m;
  VsockMetrics metrics;
  int kicks = 0;
  Muxer mux(3, "/nonexistent/v.sock", nullptr, m, metrics, [&] { ++kicks; });
  mux.set_active(true);
  PacketHeader h;
  h.src_cid = 3;
  h.dst_cid = kHostCid;
  h.src_port = 1;
  h.dst_port = 2;
  h.type = kTypeStream;
  h.op = kOpRequest;
  mux.handle_tx(h, {});
  PacketHeader out;
  std::vector<uint8_t> data;
  ASSERT_TRUE(mux.next_rx(out, data, 4096));
  EXPECT_EQ(out.op, kOpRst);
  EXPECT_FALSE(mux.next_rx(out, data, 4096));
  // The RST queue is bounded: a flood of requests never grows it past kMaxQueuedResets.
  for (size_t i = 0; i < kMaxQueuedResets + 10; ++i) mux.handle_tx(h, {});
  EXPECT_EQ(metrics.rst_dropped, 10u);
}

}  // namespace
}  // namespace hearth::virtio::vsock::test
