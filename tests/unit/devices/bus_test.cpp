#include "devices/bus.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "vmm/base/error.h"

namespace hearth {
namespace {

struct Recorder : BusDevice {
  std::vector<uint64_t> reads, writes;
  void read(uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back(offset);
    data[0] = 0x42;
  }
  void write(uint64_t offset, std::span<const uint8_t>) override { writes.push_back(offset); }
};

TEST(Bus, DispatchesByRangeWithRelativeOffset) {
  Bus bus("pio");
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  bus.insert(a, 0x3f8, 8);
  bus.insert(b, 0x60, 1);
  std::array<uint8_t, 1> byte{};
  EXPECT_TRUE(bus.read(0x3fd, byte));
  EXPECT_EQ(byte[0], 0x42);
  EXPECT_TRUE(bus.write(0x60, byte));
  EXPECT_EQ(a->reads, std::vector<uint64_t>{5});
  EXPECT_EQ(b->writes, std::vector<uint64_t>{0});
}

TEST(Bus, UnclaimedReadReturnsAllOnes) {
  Bus bus("pio");
  bus.insert(std::make_shared<Recorder>(), 0x3f8, 8);
  std::array<uint8_t, 2> word{};
  EXPECT_FALSE(bus.read(0x3ff, word));  // straddles the end of the device
  EXPECT_EQ(word[0], 0xff);
  EXPECT_EQ(word[1], 0xff);
  EXPECT_FALSE(bus.write(0x400, word));
}

TEST(Bus, RejectsOverlapsAndEmptyRanges) {
  Bus bus("mmio");
  bus.insert(std::make_shared<Recorder>(), 0x1000, 0x1000);
  EXPECT_THROW(bus.insert(std::make_shared<Recorder>(), 0x1fff, 2), Error);
  EXPECT_THROW(bus.insert(std::make_shared<Recorder>(), 0x800, 0x801), Error);
  EXPECT_THROW(bus.insert(std::make_shared<Recorder>(), 0x5000, 0), Error);
  EXPECT_THROW(bus.insert(std::make_shared<Recorder>(), ~0ULL - 1, 4), Error);
  bus.insert(std::make_shared<Recorder>(), 0x2000, 0x1000);  // adjacent is fine
}

}  // namespace
}  // namespace hearth
