#include "api/snapshot_json.h"

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::api {
namespace {

using nlohmann::json;
using test::error_of;

json load_body() {
  return {{"snapshot_path", "/tmp/vm.state"}, {"mem_backend", {{"backend_type", "File"}, {"backend_path", "/tmp/vm.mem"}}}};
}

// Firecracker's current SnapshotLoadParams: the default forms of the options Hearth lacks are accepted.
TEST(SnapshotJson, LoadAcceptsFirecrackersDefaultForms) {
  json body = load_body();
  body["clock_realtime"] = false;
  body["huge_pages"] = "Snapshot";
  body["network_overrides"] = json::array();
  body["vsock_override"] = nullptr;
  const SnapshotLoadRequest r = parse_snapshot_load(body);
  EXPECT_EQ(r.snapshot_path, "/tmp/vm.state");
  EXPECT_EQ(r.backend_path, "/tmp/vm.mem");
  EXPECT_FALSE(r.uffd);
}

TEST(SnapshotJson, LoadRefusesWhatItCannotDoNamingTheField) {
  auto with = [](const char* key, json value) {
    json body = load_body();
    body[key] = std::move(value);
    return error_of([&] { parse_snapshot_load(body); });
  };
  EXPECT_EQ(with("clock_realtime", true),
            "snapshot/load.clock_realtime: advancing kvmclock by the time since the snapshot is not supported yet");
  EXPECT_EQ(with("huge_pages", "2M"),
            "snapshot/load.huge_pages: only \"Snapshot\" (the snapshot's own backing) is supported, got \"2M\"");
  EXPECT_EQ(with("vsock_override", json{{"uds_path", "/tmp/v.sock"}}),
            "snapshot/load.vsock_override: vsock is not supported yet");
  EXPECT_EQ(with("clock_realtime", "yes"), "snapshot/load.clock_realtime: expected a boolean, got string");
  EXPECT_EQ(with("surprise", 1), "snapshot/load: unknown field 'surprise'");
}

}  // namespace
}  // namespace hearth::api
