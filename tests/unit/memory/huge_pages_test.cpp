// Anonymous guest memory on transparent huge pages and on the 2 MiB hugetlbfs pool.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/unit/error_of.h"
#include "vmm/base/error.h"
#include "vmm/memory/guest_memory.h"

namespace hearth {
namespace {

using test::error_of;

constexpr uint64_t k2M = kHugePageSize;

TEST(HugePages, TransparentMemoryIsTwoMegabyteAlignedAndUsable) {
  GuestMemory mem = GuestMemory::create_anonymous({{0, 3 * k2M}, {4 * k2M, k2M}}, AnonymousPages::kTransparentHuge);
  for (const auto& r : mem.regions()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.mapping.data()) % k2M, 0u);
    EXPECT_EQ(r.mapping.size(), r.range.size);
    EXPECT_TRUE(r.untouched_reads_as_zero);
  }
  mem.write_obj<uint64_t>(3 * k2M - 8, 0x1122334455667788);
  EXPECT_EQ(mem.read_obj<uint64_t>(3 * k2M - 8), 0x1122334455667788u);
  EXPECT_EQ(mem.read_obj<uint64_t>(4 * k2M), 0u);
}

TEST(HugePages, RangesNotOnTwoMegabyteBoundariesAreRefused) {
  for (AnonymousPages pages : {AnonymousPages::kTransparentHuge, AnonymousPages::kHugetlb2M}) {
    EXPECT_NE(error_of([&] { GuestMemory::create_anonymous({{0, k2M + 4096}}, pages); }).find("not 2 MiB-aligned"),
              std::string::npos);
    EXPECT_NE(error_of([&] { GuestMemory::create_anonymous({{4096, k2M}}, pages); }).find("not 2 MiB-aligned"),
              std::string::npos);
  }
}

TEST(HugePages, AShortPoolNamesWhatIsNeededAndWhatIsFree) {
  // Room for an integration test growing the pool meanwhile; the mapping is never made, so nothing is used.
  const uint64_t free = GuestMemory::free_huge_pages_2m();
  const uint64_t want = free + 100000;
  const std::string e = error_of([&] { GuestMemory::create_anonymous({{0, want * k2M}}, AnonymousPages::kHugetlb2M); });
  EXPECT_NE(e.find("needs " + std::to_string(want) + " free 2 MiB huge pages"), std::string::npos) << e;
  EXPECT_NE(e.find("the host has "), std::string::npos) << e;
  EXPECT_NE(e.find("/proc/sys/vm/nr_hugepages"), std::string::npos) << e;
}

}  // namespace
}  // namespace hearth
