#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/balloon/kind.h"
#include "virtio/balloon/pages.h"
#include "vmm/base/error.h"

namespace hearth::virtio::balloon::test {
namespace {

std::vector<uint8_t> pfn_bytes(const std::vector<uint32_t>& pfns) {
  std::vector<uint8_t> b(pfns.size() * 4);
  std::memcpy(b.data(), pfns.data(), b.size());
  return b;
}

TEST(BalloonPages, RepeatsCollapseAndNeighboursMerge) {
  const auto r = pfn_ranges(pfn_bytes({7, 5, 6, 6, 6, 100, 5, 0xffffffff}));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].start, 5u * 4096);
  EXPECT_EQ(r[0].size, 3u * 4096);
  EXPECT_EQ(r[1].start, 100u * 4096);
  EXPECT_EQ(r[1].size, 4096u);
  EXPECT_EQ(r[2].start, uint64_t{0xffffffff} * 4096);
}

TEST(BalloonPages, TrailingPartialPfnAndOversizeArrayAreCut) {
  auto b = pfn_bytes({1});
  b.push_back(9);
  EXPECT_EQ(pfn_ranges(b).size(), 1u);
  // 1M distinct PFNs: only the first kMaxPfnBytes / 4 are read.
  std::vector<uint32_t> many(1 << 20);
  for (uint32_t i = 0; i < many.size(); ++i) many[i] = 2 * i;
  EXPECT_EQ(pfn_ranges(pfn_bytes(many)).size(), kMaxPfnBytes / 4);
  EXPECT_TRUE(pfn_ranges({}).empty());
}

std::vector<uint8_t> stat(uint16_t tag, uint64_t value) {
  std::vector<uint8_t> b(10);
  std::memcpy(b.data(), &tag, 2);
  std::memcpy(b.data() + 2, &value, 8);
  return b;
}

TEST(BalloonPages, StatsRecordsParseUnknownTagsIgnored) {
  std::vector<uint8_t> b = stat(kFreeMemory, 1000);
  for (auto x : stat(kTotalMemory, 5000)) b.push_back(x);
  for (auto x : stat(200, 7)) b.push_back(x);
  for (auto x : stat(kFreeMemory, 2000)) b.push_back(x);
  auto s = parse_stats(b);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->values[kFreeMemory], 2000u);
  EXPECT_EQ(s->values[kTotalMemory], 5000u);
  EXPECT_FALSE(s->values[kSwapIn]);
  b.push_back(0);
  EXPECT_FALSE(parse_stats(b));
  EXPECT_FALSE(parse_stats(std::vector<uint8_t>(kMaxStatsBytes + 10)));
}

TEST(BalloonPages, ReportedRangesShrinkToWholePages) {
  EXPECT_EQ(reported_pages(0x1000, 0x3000).start, 0x1000u);
  EXPECT_EQ(reported_pages(0x1000, 0x3000).size, 0x3000u);
  EXPECT_EQ(reported_pages(0x1001, 0x3000).start, 0x2000u);
  EXPECT_EQ(reported_pages(0x1001, 0x3000).size, 0x2000u);
  EXPECT_EQ(reported_pages(0x1001, 0x100).size, 0u);
  EXPECT_EQ(reported_pages(~uint64_t{0} - 10, 100).size, 0u);
}

TEST(BalloonKind, ValidatesFirecrackerFields) {
  const auto& kind = balloon_kind().config;
  const auto j = kind.validate({{"amount_mib", 16}, {"deflate_on_oom", true}}, "balloon");
  EXPECT_EQ(j["amount_mib"], 16);
  EXPECT_EQ(j["deflate_on_oom"], true);
  EXPECT_EQ(j["stats_polling_interval_s"], 0);
  EXPECT_EQ(j["free_page_reporting"], false);
  auto fails = [&](const nlohmann::json& body, const std::string& needle) {
    try {
      kind.validate(body, "balloon");
    } catch (const Error& e) {
      return std::string(e.what()).find(needle) != std::string::npos;
    }
    return false;
  };
  EXPECT_TRUE(fails({{"amount_mib", 16}}, "deflate_on_oom"));
  EXPECT_TRUE(fails({{"deflate_on_oom", false}}, "amount_mib"));
  EXPECT_TRUE(fails({{"amount_mib", -1}, {"deflate_on_oom", false}}, "balloon.amount_mib"));
  EXPECT_TRUE(fails({{"amount_mib", 1}, {"deflate_on_oom", false}, {"stats_polling_interval_s", 70000}},
                    "balloon.stats_polling_interval_s"));
  EXPECT_TRUE(fails({{"amount_mib", 1}, {"deflate_on_oom", false}, {"free_page_hinting", true}}, "free_page_hinting"));
  EXPECT_TRUE(fails({{"amount_mib", 1}, {"deflate_on_oom", false}, {"bogus", 1}}, "bogus"));
  // PATCH bodies and how they change the section.
  EXPECT_EQ(kind.validate_patch("", {{"amount_mib", 48}}, "balloon")["amount_mib"], 48);
  EXPECT_THROW(kind.validate_patch("", {{"deflate_on_oom", true}}, "balloon"), Error);
  EXPECT_THROW(kind.validate_patch("statistics", {{"amount_mib", 1}}, "balloon/statistics"), Error);
  EXPECT_THROW(kind.validate_patch("hinting/start", nlohmann::json::object(), "balloon/hinting/start"), Error);
  const auto patched = kind.apply_patch(j, "statistics", {{"stats_polling_interval_s", 3}});
  EXPECT_EQ(patched["stats_polling_interval_s"], 3);
  EXPECT_EQ(patched["amount_mib"], 16);
}

}  // namespace
}  // namespace hearth::virtio::balloon::test
