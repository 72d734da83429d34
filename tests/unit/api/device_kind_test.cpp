// The instance helpers every multi-instance kind (network-interfaces) relies on.
#include "vmm/config/device_kind.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/unit/error_of.h"
#include "vmm/base/error.h"

namespace hearth {
namespace {

nlohmann::json identity(const nlohmann::json& body, std::string_view) { return body; }

void unique_macs(const nlohmann::json& instances, std::string_view context) {
  std::set<std::string> seen;
  for (const auto& i : instances) {
    if (!seen.insert(i.at("mac").get<std::string>()).second) throw Error(std::string(context) + ".mac: duplicate");
  }
}

const DeviceConfigKind kMulti{"things", identity, "thing_id", unique_macs};
const DeviceConfigKind kSingle{"one", identity};

TEST(DeviceKind, InstancesAreAddedThenReplacedById) {
  nlohmann::json section = with_device_instance(kMulti, nullptr, {{"thing_id", "a"}, {"mac", "1"}}, "things");
  section = with_device_instance(kMulti, &section, {{"thing_id", "b"}, {"mac", "2"}}, "things");
  section = with_device_instance(kMulti, &section, {{"thing_id", "a"}, {"mac", "3"}}, "things");
  ASSERT_EQ(section.size(), 2u);
  EXPECT_EQ(section[0]["mac"], "3");  // replaced in place: the order is the guest's device order
  EXPECT_EQ(section[1]["thing_id"], "b");
  EXPECT_EQ(device_instance_count(kMulti, section), 2u);
  ASSERT_NE(find_device_instance(kMulti, section, "b"), nullptr);
  EXPECT_EQ((*find_device_instance(kMulti, section, "b"))["mac"], "2");
  EXPECT_EQ(find_device_instance(kMulti, section, "c"), nullptr);
}

TEST(DeviceKind, CrossInstanceChecksSeeTheWholeArray) {
  const nlohmann::json section = with_device_instance(kMulti, nullptr, {{"thing_id", "a"}, {"mac", "1"}}, "things");
  EXPECT_EQ(test::error_of([&] { with_device_instance(kMulti, &section, {{"thing_id", "b"}, {"mac", "1"}}, "things"); }),
            "things.mac: duplicate");
  // Replacing an instance with itself is not a duplicate.
  EXPECT_NO_THROW(with_device_instance(kMulti, &section, {{"thing_id", "a"}, {"mac", "1"}}, "things"));
}

TEST(DeviceKind, SingleInstanceKindsHaveNoIdAndOneBody) {
  const nlohmann::json body = {{"x", 1}};
  EXPECT_EQ(with_device_instance(kSingle, nullptr, body, "one"), body);
  EXPECT_EQ(device_instance_id(kSingle, body), "");
  EXPECT_EQ(find_device_instance(kSingle, body, ""), &body);
  EXPECT_EQ(device_instance_count(kSingle, body), 1u);
  EXPECT_NE(test::error_of([&] { device_instance_id(kMulti, body); }).find("thing_id"), std::string::npos);
}

}  // namespace
}  // namespace hearth
