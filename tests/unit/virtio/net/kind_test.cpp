#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/unit/error_of.h"
#include "virtio/net/kind.h"
#include "vmm/base/error.h"

namespace hearth::virtio::net::test {
namespace {

using nlohmann::json;

json body(json extra = json::object()) {
  json b = {{"iface_id", "eth0"}, {"host_dev_name", "tap0"}};
  b.update(extra);
  return b;
}

using hearth::test::error_of;

TEST(NetKind, ValidBodyIsNormalised) {
  const json j = validate_net(body({{"guest_mac", "06:00:AC:10:00:02"},
                                    {"mtu", 1400},
                                    {"tx_rate_limiter", {{"ops", {{"size", 10}, {"refill_time", 100}}}}}}),
                              "network-interfaces");
  EXPECT_EQ(j["guest_mac"], "06:00:ac:10:00:02");
  EXPECT_EQ(j["mtu"], 1400);
  EXPECT_EQ(j["tx_rate_limiter"]["ops"]["size"], 10);
  EXPECT_FALSE(j.contains("rx_rate_limiter"));
  const NetConfig c = parse_net_config(j, "network-interfaces");
  EXPECT_EQ(c.iface_id, "eth0");
  EXPECT_EQ(c.host_dev_name, "tap0");
  ASSERT_TRUE(c.guest_mac);
  EXPECT_EQ((*c.guest_mac)[2], 0xac);
  EXPECT_TRUE(c.tx_rate_limiter);
}

TEST(NetKind, BadFieldsAreNamed) {
  auto msg = [](json b) { return error_of([&] { validate_net(b, "network-interfaces"); }); };
  EXPECT_NE(msg(body({{"iface_id", "eth-0"}})).find("network-interfaces.iface_id"), std::string::npos);
  EXPECT_NE(msg(body({{"iface_id", ""}})).find("network-interfaces.iface_id"), std::string::npos);
  EXPECT_NE(msg(body({{"host_dev_name", "abcdefghijklmnop"}})).find("network-interfaces.host_dev_name: must be 1 to 15"),
            std::string::npos);
  EXPECT_NE(msg(body({{"host_dev_name", "tap:0"}})).find("network-interfaces.host_dev_name"), std::string::npos);
  EXPECT_NE(msg(body({{"host_dev_name", "tap 0"}})).find("network-interfaces.host_dev_name"), std::string::npos);
  EXPECT_NE(msg(body({{"host_dev_name", ".."}})).find("network-interfaces.host_dev_name"), std::string::npos);
  EXPECT_NE(msg(body({{"host_dev_name", ""}})).find("network-interfaces.host_dev_name"), std::string::npos);
  for (const char* mac : {"06:00:ac:10:00", "06:00:ac:10:00:0g", "06-00-ac-10-00-02", "06:00:ac:10:00:02:"}) {
    EXPECT_NE(msg(body({{"guest_mac", mac}})).find("network-interfaces.guest_mac"), std::string::npos) << mac;
  }
  EXPECT_NE(msg(body({{"guest_mac", 5}})).find("network-interfaces.guest_mac"), std::string::npos);
  EXPECT_NE(msg(body({{"mtu", 67}})).find("network-interfaces.mtu"), std::string::npos);
  EXPECT_NE(msg(body({{"rx_rate_limiter", {{"bandwidth", {{"size", -1}}}}}})).find("network-interfaces.rx_rate_limiter"),
            std::string::npos);
  EXPECT_NE(msg(body({{"colour", "red"}})).find("colour"), std::string::npos);
  EXPECT_NE(msg(json{{"iface_id", "eth0"}}).find("host_dev_name"), std::string::npos);
  EXPECT_NE(msg(body({{"allow_mmds_requests", true}})).find("allow_mmds_requests"), std::string::npos);
}

TEST(NetKind, DuplicateTapOrMacAcrossInstances) {
  const json a = validate_net(body({{"guest_mac", "06:00:00:00:00:01"}}), "n");
  json b = validate_net(json{{"iface_id", "eth1"}, {"host_dev_name", "tap0"}}, "n");
  std::string m = error_of([&] { validate_net_instances(json::array({a, b}), "network-interfaces"); });
  EXPECT_NE(m.find("network-interfaces.host_dev_name"), std::string::npos) << m;
  EXPECT_NE(m.find("eth0"), std::string::npos) << m;
  b = validate_net(json{{"iface_id", "eth1"}, {"host_dev_name", "tap1"}, {"guest_mac", "06:00:00:00:00:01"}}, "n");
  m = error_of([&] { validate_net_instances(json::array({a, b}), "network-interfaces"); });
  EXPECT_NE(m.find("network-interfaces.guest_mac"), std::string::npos) << m;
  b = validate_net(json{{"iface_id", "eth1"}, {"host_dev_name", "tap1"}, {"guest_mac", "06:00:00:00:00:02"}}, "n");
  EXPECT_EQ(error_of([&] { validate_net_instances(json::array({a, b}), "network-interfaces"); }), "<no error>");
}

TEST(NetKind, KindDescribesAMultiInstancePostBootPatchableResource) {
  const auto& k = network_interfaces_kind();
  EXPECT_EQ(k.config.name, "network-interfaces");
  EXPECT_EQ(k.config.id_field, "iface_id");
  EXPECT_TRUE(k.config.multi_instance());
  EXPECT_FALSE(k.config.patch_before_boot);
  ASSERT_EQ(k.config.patch_paths.size(), 1u);
  EXPECT_EQ(k.config.patch_paths[0], "");
  EXPECT_EQ(k.metrics_prefix, "net.");
}

TEST(NetKind, PatchValidationAndApplication) {
  auto msg = [](json b) { return error_of([&] { validate_net_patch("", b, "network-interfaces"); }); };
  EXPECT_NE(msg(json{{"iface_id", "eth0"}, {"host_dev_name", "tap1"}}).find("host_dev_name"), std::string::npos);
  EXPECT_NE(msg(json{{"rx_rate_limiter", json::object()}}).find("iface_id"), std::string::npos);
  EXPECT_NE(msg(json{{"iface_id", "eth0"}, {"tx_rate_limiter", {{"ops", {{"size", "x"}}}}}}).find(
                "network-interfaces.tx_rate_limiter"),
            std::string::npos);
  EXPECT_NE(error_of([] { validate_net_patch("statistics", json{{"iface_id", "eth0"}}, "n"); }), "<no error>");

  const json section = validate_net(body({{"rx_rate_limiter", {{"bandwidth", {{"size", 1000}, {"refill_time", 100}}},
                                                               {"ops", {{"size", 10}, {"refill_time", 100}}}}}}),
                                    "n");
  const json patch = validate_net_patch(
      "", json{{"iface_id", "eth0"},
               {"rx_rate_limiter", {{"bandwidth", {{"size", 0}, {"refill_time", 0}}}}},
               {"tx_rate_limiter", {{"ops", {{"size", 5}, {"refill_time", 50}}}}}},
      "n");
  const json updated = apply_net_patch(section, "", patch);
  EXPECT_FALSE(updated["rx_rate_limiter"].contains("bandwidth"));  // size 0 removed it
  EXPECT_EQ(updated["rx_rate_limiter"]["ops"]["size"], 10);          // untouched
  EXPECT_EQ(updated["tx_rate_limiter"]["ops"]["size"], 5);
  EXPECT_EQ(updated["host_dev_name"], "tap0");
  // The result is still a valid body.
  EXPECT_EQ(validate_net(updated, "n"), updated);
}

}  // namespace
}  // namespace hearth::virtio::net::test
