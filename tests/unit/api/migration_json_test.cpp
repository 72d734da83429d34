#include "api/migration_json.h"

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::api {
namespace {

using nlohmann::json;
using test::error_of;

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(MigrationJson, SendDefaults) {
  const MigrationSendRequest r = parse_migration_send(json{{"url", "unix:/run/m.sock"}});
  EXPECT_EQ(r.url, "unix:/run/m.sock");
  EXPECT_EQ(r.max_downtime_ms, 50u);
  EXPECT_EQ(r.max_rounds, 30u);
  EXPECT_EQ(r.bandwidth_mib_s, 0u);
  EXPECT_TRUE(r.auto_converge);
  EXPECT_FALSE(r.post_copy);
}

TEST(MigrationJson, SendEveryField) {
  const MigrationSendRequest r = parse_migration_send(json{{"url", "tcp:10.0.0.2:4444"},
                                                           {"max_downtime_ms", 3600000},
                                                           {"max_rounds", 1},
                                                           {"bandwidth_mib_s", 1048576},
                                                           {"auto_converge", false},
                                                           {"post_copy", true}});
  EXPECT_EQ(r.url, "tcp:10.0.0.2:4444");
  EXPECT_EQ(r.max_downtime_ms, 3600000u);
  EXPECT_EQ(r.max_rounds, 1u);
  EXPECT_EQ(r.bandwidth_mib_s, 1048576u);
  EXPECT_FALSE(r.auto_converge);
  EXPECT_TRUE(r.post_copy);
}

TEST(MigrationJson, SendBoundsTypesAndUnknownFieldsNameTheField) {
  const json base{{"url", "unix:/m.sock"}};
  struct Case {
    const char* field;
    json value;
    const char* expect;
  };
  const Case cases[] = {
      {"max_downtime_ms", 0, "migration/send.max_downtime_ms: must be between 1 and 3600000"},
      {"max_downtime_ms", 3600001, "migration/send.max_downtime_ms: must be between 1 and 3600000"},
      {"max_downtime_ms", "50", "migration/send.max_downtime_ms"},
      {"max_rounds", 0, "migration/send.max_rounds: must be between 1 and 10000"},
      {"max_rounds", 10001, "migration/send.max_rounds: must be between 1 and 10000"},
      {"max_rounds", -1, "migration/send.max_rounds"},
      {"max_rounds", 1.5, "migration/send.max_rounds"},
      {"bandwidth_mib_s", 1048577, "migration/send.bandwidth_mib_s: must be between 0 and 1048576"},
      {"bandwidth_mib_s", true, "migration/send.bandwidth_mib_s"},
      {"auto_converge", 1, "migration/send.auto_converge"},
      {"post_copy", "yes", "migration/send.post_copy"},
      {"url", 5, "migration/send.url"},
      {"url", "", "migration/send.url"},
      {"url", "ftp://x", "migration/send.url: \"ftp://x\" must start with unix: or tcp:"},
      {"colour", "red", "unknown field 'colour'"},
  };
  for (const auto& c : cases) {
    json j = base;
    j[c.field] = c.value;
    const std::string err = error_of([&] { parse_migration_send(j); });
    EXPECT_TRUE(has(err, c.expect)) << c.field << "=" << c.value.dump() << ": " << err;
  }
  EXPECT_TRUE(has(error_of([] { parse_migration_send(json::object()); }), "missing required field 'url'"));
  EXPECT_TRUE(has(error_of([] { parse_migration_send(json::array()); }), "migration/send"));
}

TEST(MigrationJson, ReceiveWithDriveOverrides) {
  const MigrationReceiveRequest r = parse_migration_receive(
      json{{"url", "tcp:[::1]:9000"},
           {"drive_overrides", json::array({{{"drive_id", "rootfs"}, {"path_on_host", "/img/a.ext4"}},
                                            {{"drive_id", "data"}, {"path_on_host", "/img/b.ext4"}}})}});
  EXPECT_EQ(r.url, "tcp:[::1]:9000");
  ASSERT_EQ(r.drive_overrides.size(), 2u);
  EXPECT_EQ(r.drive_overrides[0].drive_id, "rootfs");
  EXPECT_EQ(r.drive_overrides[0].path_on_host, "/img/a.ext4");
  EXPECT_EQ(r.drive_overrides[1].drive_id, "data");
  EXPECT_TRUE(parse_migration_receive(json{{"url", "unix:/m"}}).drive_overrides.empty());
}

TEST(MigrationJson, ReceiveRefusesBadOverrides) {
  const auto err = [](json overrides) {
    return error_of([&] { parse_migration_receive(json{{"url", "unix:/m"}, {"drive_overrides", overrides}}); });
  };
  const json dup = json::array({{{"drive_id", "a"}, {"path_on_host", "/x"}}, {{"drive_id", "a"}, {"path_on_host", "/y"}}});
  EXPECT_TRUE(has(err(dup), "migration/receive.drive_overrides[1].drive_id: 'a' is given twice")) << err(dup);
  EXPECT_TRUE(has(err(json::object()), "migration/receive.drive_overrides: expected an array"));
  EXPECT_TRUE(has(err(json::array({{{"drive_id", "a"}}})), "missing required field 'path_on_host'"));
  EXPECT_TRUE(has(err(json::array({{{"drive_id", "a"}, {"path_on_host", "/x"}, {"ro", true}}})), "unknown field 'ro'"));
  EXPECT_TRUE(has(err(json::array({{{"drive_id", ""}, {"path_on_host", "/x"}}})),
                  "migration/receive.drive_overrides[0].drive_id"));
  EXPECT_TRUE(has(error_of([] { parse_migration_receive(json{{"url", "unix:/m"}, {"send", 1}}); }), "unknown field 'send'"));
}

TEST(MigrationJson, CheckUrl) {
  for (const char* ok : {"unix:/m.sock", "tcp:127.0.0.1:1", "tcp:host:65535", "tcp:[::1]:80"}) {
    EXPECT_EQ(error_of([&] { check_migration_url(ok, "where"); }), "<no error>") << ok;
  }
  EXPECT_TRUE(has(error_of([] { check_migration_url("unix:", "where"); }), "where: \"unix:\" needs a socket path"));
  EXPECT_TRUE(has(error_of([] { check_migration_url("tcp:host", "where"); }), "where: \"tcp:host\" must be tcp:HOST:PORT"));
  EXPECT_TRUE(has(error_of([] { check_migration_url("tcp::80", "where"); }), "must be tcp:HOST:PORT"));
  EXPECT_TRUE(has(error_of([] { check_migration_url("tcp:h:", "where"); }), "must be tcp:HOST:PORT"));
  for (const char* port : {"0", "65536", "99999", "123456", "8a", "-1"}) {
    const std::string err = error_of([&] { check_migration_url(std::string("tcp:h:") + port, "where"); });
    EXPECT_TRUE(has(err, std::string("where: port \"") + port + "\" must be 1..65535")) << port << ": " << err;
  }
  EXPECT_TRUE(has(error_of([] { check_migration_url("udp:h:1", "where"); }), "must start with unix: or tcp:"));
}

TEST(MigrationJson, StatusFieldNames) {
  MigrationStatus s;
  s.phase = MigrationPhase::kStopAndCopy;
  s.round = 3;
  s.dirty_pages_last_round = 17;
  s.bytes_sent = 123456;
  s.rate_mib_s = 12.3456;
  s.expected_downtime_ms = 1.005;
  s.downtime_ms = 2;
  s.total_ms = 99.999;
  s.throttle_percent = 20;
  s.pages_requested = 5;
  s.error = "boom";
  const json j = to_json(s);
  EXPECT_EQ(j.size(), 11u);
  EXPECT_EQ(j.at("state"), "stop-and-copy");
  EXPECT_EQ(j.at("round"), 3);
  EXPECT_EQ(j.at("dirty_pages_last_round"), 17);
  EXPECT_EQ(j.at("bytes_sent"), 123456);
  EXPECT_DOUBLE_EQ(j.at("rate_mib_s").get<double>(), 12.35);
  EXPECT_DOUBLE_EQ(j.at("downtime_ms").get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j.at("total_ms").get<double>(), 100.0);
  EXPECT_TRUE(j.contains("expected_downtime_ms"));
  EXPECT_EQ(j.at("throttle_percent"), 20);
  EXPECT_EQ(j.at("pages_requested"), 5);
  EXPECT_EQ(j.at("error"), "boom");
  EXPECT_EQ(to_json(MigrationStatus{}).at("state"), "idle");
}

}  // namespace
}  // namespace hearth::api
