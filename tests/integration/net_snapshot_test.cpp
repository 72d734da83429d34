// A guest with a network interface survives a snapshot round trip: the restored process re-opens the TAP by
// name, reads it at once (the guest's rx ring is already full and it will not kick), and the guest's next
// net-bench round after the restore gets its traffic through both ways.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "tests/integration/netns.h"

namespace hearth::test {
namespace {

using nlohmann::json;

TEST(NetSnapshot, RestoredGuestKeepsItsInterface) {
  if (auto reason = kvm_unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs KVM): " << reason;
  if (auto reason = Netns::unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs netns/TAP): " << reason;
  Netns ns("netsnap");
  ns.add_tap("tap0", "10.80.0.1/24");
  ProcessOptions long_opts;
  long_opts.timeout = std::chrono::milliseconds(240000);
  BackgroundProcess peer(ns.wrap({"python3", source_dir() + "/tests/guest/net_peer.py", "--bind", "10.80.0.1",
                                  "--port", "7777", "--sink", "7778"}),
                         long_opts);
  ASSERT_TRUE(peer.wait_for_output("net-peer: listening", 10000)) << peer.output();

  json cfg = testguest_config(1, 64,
                              "console=ttyS0 testguest.run=net-bench testguest.bench_dir=tx testguest.bench_count=30 "
                              "testguest.bench_size=1000 testguest.bench_rounds=2 testguest.bench_gap_ms=3000 "
                              "testguest.net_ip=10.80.0.2/24 testguest.net_peer=10.80.0.1:7777");
  cfg["network-interfaces"] = json::array(
      {json{{"iface_id", "eth0"}, {"host_dev_name", "tap0"}, {"guest_mac", "06:00:0a:50:00:02"}}});
  TempDir dir;
  const std::string socket = (dir.path() / "api.sock").string();
  const std::string state = (dir.path() / "vm.state").string(), mem = (dir.path() / "vm.mem").string();
  auto source = std::make_unique<BackgroundProcess>(
      ns.wrap({hearth_binary(), "--config-file", dir.write("vm.json", cfg.dump()), "--api-sock", socket}), long_opts);
  ASSERT_TRUE(source->wait_for_output("net-bench: round=1 done", 120000)) << source->output();
  {
    ApiClient api(socket);
    ASSERT_EQ(api.patch("/vm", R"({"state":"Paused"})").status, 204);
    const HttpReply r = api.put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
    ASSERT_EQ(r.status, 204) << r.body;
  }
  const ProcessResult first = source->terminate();  // lets go of the TAP
  EXPECT_EQ(lines_with_prefix(first.out, "net-bench: round=2 done").size(), 0u);

  BackgroundProcess restored(ns.wrap({hearth_binary(), "--no-api", "--restore-from", state, "--mem-file", mem}), long_opts);
  const ProcessResult r = restored.wait();
  SCOPED_TRACE(first.out + r.out + r.err + peer.output());
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  // Round 2 sent its datagrams and the peer's count came back in: tx and rx work after the restore.
  ASSERT_EQ(lines_with_prefix(r.out, "net-bench: round=2 done").size(), 1u);
  const auto tx = lines_with_prefix(r.out, "net-bench: dir=tx ");
  ASSERT_FALSE(tx.empty());
  EXPECT_NE(tx.back().find("peer_count=30"), std::string::npos) << tx.back();
  std::printf("net-snapshot: after restore: %s\n", tx.back().c_str());
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  peer.terminate();
}

}  // namespace
}  // namespace hearth::test
