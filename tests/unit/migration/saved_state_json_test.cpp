#include "vmm/migration/saved_state_json.h"

#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::migration {
namespace {

using nlohmann::json;
using test::error_of;

TEST(MigrationSavedStateJson, RoundTripsTheDefaultState) {
  const json j = saved_state_json(SavedState{});
  EXPECT_TRUE(j.contains("machine"));
  EXPECT_TRUE(j.contains("devices"));
  const SavedState back = parse_saved_state(j);
  EXPECT_EQ(saved_state_json(back), j);
}

TEST(MigrationSavedStateJson, MalformedObjectsAreMalformedVmState) {
  const json good = saved_state_json(SavedState{});
  std::vector<json> bad = {json(), json(5), json::array(), json::object(), json("machine")};
  json j = good;
  j.erase("machine");
  bad.push_back(j);
  j = good;
  j.erase("devices");
  bad.push_back(j);
  j = good;
  j["devices"] = json::object({{"a", 1}});
  bad.push_back(j);
  j = good;
  j["devices"] = json::array({42});
  bad.push_back(j);
  j = good;
  j["devices"] = json::array({json::object()});
  bad.push_back(j);
  for (const auto& b : bad) {
    const std::string err = error_of([&] { parse_saved_state(b); });
    EXPECT_NE(err.find("migration stream: malformed VM state"), std::string::npos) << b.dump() << ": " << err;
  }
  // The machine state's own reader names what it expected (an Error too, never another exception).
  j = good;
  j["machine"] = "not an object";
  EXPECT_NE(error_of([&] { parse_saved_state(j); }).find("machine state: expected {vm, vcpus}"), std::string::npos);
}

}  // namespace
}  // namespace hearth::migration
