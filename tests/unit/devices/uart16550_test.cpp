#include "devices/serial/uart16550.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <string>
#include <vector>

#include "vmm/base/error.h"

namespace hearth {
namespace {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

// Register offsets and values as the Linux 8250 driver names them.
constexpr uint64_t kRbr = 0, kThr = 0, kDll = 0, kDlm = 1, kIer = 1, kIir = 2, kFcr = 2, kLcr = 3, kMcr = 4,
                   kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRda = 0x04, kIirRls = 0x06, kIirFifo = 0xc0;
constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;

class UartTest : public ::testing::Test {
 protected:
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  std::string out;
  Uart16550 uart{irq, [this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); }};

  uint8_t rd(uint64_t off) {
    std::array<uint8_t, 1> b{};
    uart.read(off, b);
    return b[0];
  }
  void wr(uint64_t off, uint8_t v) { uart.write(off, std::array<uint8_t, 1>{v}); }
  size_t input(const std::string& s) {
    return uart.enqueue_input({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
};

TEST_F(UartTest, WritesReachTheSinkAndAreCounted) {
  for (char c : std::string("hello\n")) wr(kThr, static_cast<uint8_t>(c));
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(uart.output_bytes(), 6u);
  EXPECT_EQ(irq->count, 0);  // THRI not enabled
}

TEST_F(UartTest, LineStatusTracksReceivedData) {
  EXPECT_EQ(rd(kLsr), kLsrThre | kLsrTemt);
  ASSERT_EQ(input("ab"), 1u);  // FIFOs off: a one-byte holding register
  EXPECT_EQ(rd(kLsr), kLsrThre | kLsrTemt | kLsrDr);
  EXPECT_EQ(rd(kRbr), 'a');
  EXPECT_EQ(rd(kLsr), kLsrThre | kLsrTemt);
  EXPECT_EQ(rd(kRbr), 0);  // empty reads are harmless
}

TEST_F(UartTest, DlabSwitchesToTheDivisorLatchAndBack) {
  wr(kIer, 0x05);
  wr(kLcr, 0x83);  // DLAB + 8N1
  wr(kDll, 0x01);
  wr(kDlm, 0x02);
  EXPECT_EQ(rd(kDll), 0x01);
  EXPECT_EQ(rd(kDlm), 0x02);
  EXPECT_TRUE(out.empty());  // DLL writes are not output
  wr(kLcr, 0x03);
  EXPECT_EQ(rd(kIer), 0x05);  // the normal registers are back, untouched
  wr(kThr, 'x');
  EXPECT_EQ(out, "x");
  wr(kLcr, 0x83);
  EXPECT_EQ(rd(kDll), 0x01);  // the latch kept its value
  EXPECT_EQ(rd(kDlm), 0x02);
  EXPECT_EQ(uart.save().dll, 0x01);
}

TEST_F(UartTest, ScratchRegisterHoldsAByte) {
  wr(kScr, 0x5a);
  EXPECT_EQ(rd(kScr), 0x5a);
  wr(kScr, 0xa5);
  EXPECT_EQ(rd(kScr), 0xa5);
}

TEST_F(UartTest, FifoEnableShowsInIirAndSetsCapacity) {
  EXPECT_EQ(rd(kIir), kIirNone);
  wr(kFcr, 0x01);
  EXPECT_EQ(rd(kIir), kIirFifo | kIirNone);
  EXPECT_EQ(input(std::string(10, 'z')), 10u);
  wr(kFcr, 0x03);  // clear the receive FIFO
  EXPECT_EQ(rd(kLsr) & kLsrDr, 0);
  EXPECT_EQ(input("q"), 1u);
  wr(kFcr, 0x00);  // leaving FIFO mode clears it as well
  EXPECT_EQ(rd(kIir), kIirNone);
  EXPECT_EQ(rd(kLsr) & kLsrDr, 0);
}

TEST_F(UartTest, ReceivedDataInterruptOnlyWhenEnabled) {
  wr(kFcr, 0x01);
  input("a");
  EXPECT_EQ(irq->count, 0);
  EXPECT_EQ(rd(kIir), kIirFifo | kIirNone);
  rd(kRbr);

  wr(kIer, 0x01);
  EXPECT_EQ(irq->count, 0);
  input("bc");
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRda);
  EXPECT_EQ(rd(kRbr), 'b');
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRda);  // still data: no new edge, still reported
  EXPECT_EQ(rd(kRbr), 'c');
  EXPECT_EQ(rd(kIir), kIirFifo | kIirNone);
  input("d");
  EXPECT_EQ(irq->count, 2);  // the line fell when the FIFO drained, so new data is a new edge
}

TEST_F(UartTest, EnablingRdaWithDataWaitingRaisesTheInterrupt) {
  input("a");
  wr(kIer, 0x01);
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(rd(kIir), kIirRda);
}

TEST_F(UartTest, IirReportsTheHighestPriorityPendingSource) {
  wr(kFcr, 0x01);
  wr(kIer, 0x07);  // RDA, THRE, RLS
  EXPECT_EQ(irq->count, 1);  // THRE: THR is empty when THRI gets enabled
  input("x");
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRda);  // RDA outranks THRE
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRda);  // and reading IIR does not acknowledge THRE behind it

  // Overrun (via loopback into a full FIFO) outranks RDA.
  wr(kMcr, 0x10);
  for (int i = 0; i < 64; ++i) wr(kThr, 'y');
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRls);
  EXPECT_NE(rd(kLsr) & kLsrOe, 0);  // reading LSR acknowledges it
  EXPECT_EQ(rd(kIir), kIirFifo | kIirRda);
  wr(kFcr, 0x03);
  EXPECT_EQ(rd(kIir), kIirFifo | kIirThre);
  EXPECT_EQ(rd(kIir), kIirFifo | kIirNone);
}

TEST_F(UartTest, ThreInterruptOnEnableClearedByIirReadAndRaisedByEachWrite) {
  wr(kIer, 0x02);
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(rd(kIir), kIirThre);
  EXPECT_EQ(rd(kIir), kIirNone);  // the read acknowledged it
  wr(kThr, 'a');
  EXPECT_EQ(irq->count, 2);
  wr(kThr, 'b');  // the THR write itself acknowledges the pending THRE, then the byte leaves at once
  EXPECT_EQ(irq->count, 3);
  EXPECT_EQ(rd(kIir), kIirThre);
  wr(kIer, 0x00);
  wr(kIer, 0x02);  // Linux's THRE-bug probe: re-enabling must raise it again
  EXPECT_EQ(irq->count, 4);
  EXPECT_EQ(rd(kIir), kIirThre);
  wr(kIer, 0x02);  // rewriting the same IER is not an enable
  EXPECT_EQ(rd(kIir), kIirNone);
  EXPECT_EQ(out, "ab");
}

TEST_F(UartTest, LoopbackEchoesIntoRbrAndNotTheSink) {
  wr(kMcr, 0x10 | 0x0a);  // loop + RTS + OUT2: Linux's autoconfig probe
  EXPECT_EQ(rd(kMsr) & 0xf0, 0x90);  // CTS (from RTS) and DCD (from OUT2)
  wr(kThr, 'L');
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(uart.output_bytes(), 0u);
  EXPECT_EQ(rd(kLsr) & kLsrDr, kLsrDr);
  EXPECT_EQ(rd(kRbr), 'L');
  wr(kMcr, 0x10 | 0x01);  // DTR only: DSR up, CTS and DCD down, deltas recorded
  EXPECT_EQ(rd(kMsr), 0x20 | 0x01 | 0x02 | 0x08);
  EXPECT_EQ(rd(kMsr), 0x20);  // deltas clear on read
  wr(kMcr, 0x08);
  EXPECT_EQ(rd(kMsr) & 0xf0, 0xb0);  // out of loopback: DCD, DSR, CTS
  wr(kThr, 'o');
  EXPECT_EQ(out, "o");
}

TEST_F(UartTest, FullFifoLimitsInputAndLoopbackOverflowIsAnOverrun) {
  int space_calls = 0;
  uart.set_input_space_callback([&] { ++space_calls; });
  wr(kFcr, 0x01);
  EXPECT_EQ(input(std::string(100, 'i')), Uart16550::kFifoSize);
  EXPECT_FALSE(uart.input_space());
  EXPECT_EQ(input("more"), 0u);
  EXPECT_EQ(rd(kLsr) & kLsrOe, 0);  // the caller kept the rest: nothing was lost

  wr(kMcr, 0x10);
  wr(kThr, 'x');  // looped back into a full FIFO: lost
  EXPECT_EQ(rd(kLsr) & kLsrOe, kLsrOe);
  EXPECT_EQ(rd(kLsr) & kLsrOe, 0);

  EXPECT_EQ(space_calls, 0);
  rd(kRbr);
  EXPECT_EQ(space_calls, 1);
  EXPECT_TRUE(uart.input_space());
  rd(kRbr);
  EXPECT_EQ(space_calls, 1);  // only the full -> room transition notifies
}

TEST_F(UartTest, SaveRestoreRoundTripMidStream) {
  wr(kFcr, 0x81);
  wr(kLcr, 0x80);
  wr(kDll, 0x03);
  wr(kLcr, 0x03);
  wr(kScr, 0x77);
  wr(kIer, 0x01);
  input("abcdef");
  EXPECT_EQ(rd(kRbr), 'a');
  EXPECT_EQ(rd(kRbr), 'b');
  Uart16550::State saved = uart.save();

  auto irq2 = std::make_shared<CountingIrq>();
  std::string out2;
  Uart16550 copy(irq2, [&](std::span<const uint8_t> b) { out2.append(b.begin(), b.end()); });
  copy.restore(saved);
  EXPECT_EQ(irq2->count, 0);  // the IOAPIC state is restored on its own
  auto r = [&](uint64_t off) {
    std::array<uint8_t, 1> b{};
    copy.read(off, b);
    return b[0];
  };
  EXPECT_EQ(r(kIir), kIirFifo | kIirRda);
  std::string rest;
  while (r(kLsr) & kLsrDr) rest.push_back(static_cast<char>(r(kRbr)));
  EXPECT_EQ(rest, "cdef");
  EXPECT_EQ(r(kScr), 0x77);
  EXPECT_EQ(r(kLcr), 0x03);
  copy.write(kLcr, std::array<uint8_t, 1>{0x83});
  EXPECT_EQ(r(kDll), 0x03);
  // The edge state came along: new data after draining raises exactly one interrupt.
  copy.enqueue_input(std::array<uint8_t, 1>{'g'});
  EXPECT_EQ(irq2->count, 1);
}

// The VMM thread feeds input under flow control while a vCPU thread drains it: nothing lost or reordered.
TEST_F(UartTest, InputFlowControlAcrossThreads) {
  std::atomic<int> space_signals{0};
  uart.set_input_space_callback([&] { space_signals.fetch_add(1); });
  wr(kFcr, 0x01);
  std::string sent;
  for (int i = 0; i < 3000; ++i) sent.push_back(static_cast<char>('a' + i % 26));

  std::thread vmm([&] {
    size_t pos = 0;
    while (pos < sent.size()) {
      int seen = space_signals.load();
      pos += input(sent.substr(pos, 100));
      if (pos < sent.size() && !uart.input_space()) {
        while (space_signals.load() == seen) std::this_thread::yield();  // wait for the full -> room signal
      }
    }
  });
  std::string got;
  while (got.size() < sent.size()) {
    if (rd(kLsr) & kLsrDr) got.push_back(static_cast<char>(rd(kRbr)));
  }
  vmm.join();
  EXPECT_EQ(got, sent);
  EXPECT_EQ(rd(kLsr) & kLsrOe, 0);
}

TEST_F(UartTest, RestoreRejectsMoreDataThanTheBufferHolds) {
  Uart16550::State s;
  s.rx_fifo.assign(2, 'x');  // FIFOs off: one byte at most
  EXPECT_THROW(uart.restore(s), Error);
  s.fcr = 0x01;
  s.rx_fifo.assign(Uart16550::kFifoSize + 1, 'x');
  EXPECT_THROW(uart.restore(s), Error);
  s.rx_fifo.assign(Uart16550::kFifoSize, 'x');
  uart.restore(s);
  EXPECT_FALSE(uart.input_space());
}

TEST_F(UartTest, OddAccessesAreHarmless) {
  std::array<uint8_t, 2> word{0, 0};
  uart.read(kLsr, word);
  EXPECT_EQ(word[0], 0xff);
  uart.write(kThr, std::array<uint8_t, 2>{'a', 'b'});
  std::array<uint8_t, 1> byte{0};
  uart.read(8, byte);
  EXPECT_EQ(byte[0], 0xff);
  uart.write(100, byte);
  wr(kLsr, 0x00);  // read-only
  EXPECT_EQ(rd(kLsr), kLsrThre | kLsrTemt);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace hearth
