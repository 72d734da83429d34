#include "devices/serial/uart16550.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <functional>
#include <thread>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "vmm/base/error.h"
#include "vmm/metrics/registry.h"

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
  EXPECT_EQ(uart.save_state().dll, 0x01);
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
  Uart16550::State saved = uart.save_state();

  auto irq2 = std::make_shared<CountingIrq>();
  std::string out2;
  Uart16550 copy(irq2, [&](std::span<const uint8_t> b) { out2.append(b.begin(), b.end()); });
  copy.restore_state(saved);
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
  EXPECT_THROW(uart.restore_state(s), Error);
  s.fcr = 0x01;
  s.rx_fifo.assign(Uart16550::kFifoSize + 1, 'x');
  EXPECT_THROW(uart.restore_state(s), Error);
  s.rx_fifo.assign(Uart16550::kFifoSize, 'x');
  uart.restore_state(s);
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

// Device interface: the JSON state carries every register, so a fresh UART reads back the same.
class UartDeviceStateTest : public UartTest {
 protected:
  void SetUp() override {
    wr(kLcr, 0x80 | 0x1b);  // DLAB, 8E1
    wr(kDll, 0x06);
    wr(kDlm, 0x01);
    wr(kLcr, 0x1b);
    wr(kFcr, 0x41);  // FIFOs, trigger level 4
    wr(kMcr, 0x0b);
    wr(kScr, 0x99);
    wr(kIer, 0x07);  // RDA, THRE, RLS
    wr(kThr, 'z');   // leaves a THRE interrupt pending
    ASSERT_EQ(input("xyz"), 3u);
  }
  std::shared_ptr<CountingIrq> irq2 = std::make_shared<CountingIrq>();
  Uart16550 copy{irq2, {}};
};

// Reads every register the way a driver would, including the ones that change state when read.
std::vector<uint8_t> read_everything(Uart16550& u) {
  auto r = [&](uint64_t off) {
    std::array<uint8_t, 1> b{};
    u.read(off, b);
    return b[0];
  };
  std::vector<uint8_t> v;
  for (uint64_t off : {kIer, kLcr, kMcr, kScr, kMsr, kIir, kLsr}) v.push_back(r(off));
  for (int i = 0; i < 4; ++i) v.push_back(r(kRbr));
  v.push_back(r(kIir));
  v.push_back(r(kIir));  // THRE was acknowledged by the first IIR read after the data drained
  u.write(kLcr, std::array<uint8_t, 1>{0x9b});
  v.push_back(r(kDll));
  v.push_back(r(kDlm));
  return v;
}

TEST_F(UartDeviceStateTest, SaveRestoreReadsBackTheSame) {
  const DeviceState saved = uart.save();
  EXPECT_EQ(saved.kind, "serial");
  EXPECT_EQ(saved.id, "");
  EXPECT_EQ(saved.version, 1u);
  EXPECT_EQ(saved.data.at("lcr"), 0x1b);
  EXPECT_EQ(saved.data.at("rx_fifo"), nlohmann::json::array({'x', 'y', 'z'}));
  // Through JSON text, as a snapshot file would carry it.
  copy.restore(nlohmann::json::parse(nlohmann::json(saved).dump()).get<DeviceState>());
  EXPECT_EQ(nlohmann::json(copy.save()), nlohmann::json(saved));
  EXPECT_EQ(irq2->count, 0);  // the level is taken as restored; the IOAPIC carries the delivered edge
  EXPECT_EQ(read_everything(copy), read_everything(uart));
  EXPECT_EQ(nlohmann::json(copy.save()), nlohmann::json(uart.save()));
}

TEST_F(UartDeviceStateTest, RestoredInterruptLevelIsHigh) {
  copy.restore(uart.save());
  // The line is already up (data pending, RDA enabled): more data is no new edge.
  ASSERT_EQ(copy.enqueue_input(std::array<uint8_t, 1>{'w'}), 1u);
  EXPECT_EQ(irq2->count, 0);
  // Drain and acknowledge everything; the next byte raises exactly one edge.
  std::array<uint8_t, 1> b{};
  for (int i = 0; i < 4; ++i) copy.read(kRbr, b);
  copy.read(kIir, b);
  copy.read(kIir, b);
  EXPECT_EQ(b[0], kIirFifo | kIirNone);
  copy.enqueue_input(std::array<uint8_t, 1>{'v'});
  EXPECT_EQ(irq2->count, 1);
}

TEST_F(UartDeviceStateTest, RestoreRejectsAnotherVersionNamingBoth) {
  DeviceState s = uart.save();
  s.version = 2;
  try {
    copy.restore(s);
    FAIL() << "version 2 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("version 2"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1..1"));
  }
}

TEST_F(UartDeviceStateTest, RestoreRejectsMissingOrBadFieldsNamingThem) {
  const nlohmann::json before = nlohmann::json(copy.save());
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& field) {
    DeviceState s = uart.save();
    edit(s.data);
    try {
      copy.restore(s);
      ADD_FAILURE() << "accepted a state with a bad '" << field << "'";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("serial: state field '" + field + "'"));
    }
    EXPECT_EQ(nlohmann::json(copy.save()), before);  // nothing applied
  };
  for (const char* f : {"dll", "dlm", "ier", "fcr", "lcr", "mcr", "line_errors", "msr_delta", "scr",
                        "thre_pending", "rx_fifo"}) {
    expect_error([&](nlohmann::json& d) { d.erase(f); }, f);
  }
  expect_error([](nlohmann::json& d) { d["lcr"] = 256; }, "lcr");
  expect_error([](nlohmann::json& d) { d["dll"] = -1; }, "dll");
  expect_error([](nlohmann::json& d) { d["scr"] = "1"; }, "scr");
  expect_error([](nlohmann::json& d) { d["ier"] = 0x10; }, "ier");
  expect_error([](nlohmann::json& d) { d["mcr"] = 0x20; }, "mcr");
  expect_error([](nlohmann::json& d) { d["thre_pending"] = 1; }, "thre_pending");
  expect_error([](nlohmann::json& d) { d["rx_fifo"] = nlohmann::json::array({1, 999}); }, "rx_fifo");
  expect_error([](nlohmann::json& d) { d["rx_fifo"] = std::vector<int>(Uart16550::kFifoSize + 1, 0); }, "rx_fifo");
  expect_error(
      [](nlohmann::json& d) {
        d["fcr"] = 0;  // without FIFOs the receive buffer holds one byte
      },
      "rx_fifo");
  DeviceState wrong = uart.save();
  wrong.kind = "i8042";
  EXPECT_THROW(copy.restore(wrong), Error);
}

TEST_F(UartTest, ExportsOutputBytes) {
  for (char c : std::string("abc")) wr(kThr, static_cast<uint8_t>(c));
  metrics::Registry registry;
  uart.export_metrics(registry, "serial.");
  uart.export_metrics(registry, "serial.");  // repeated export does not double count
  EXPECT_EQ(registry.counter("serial.output_bytes").get(), 3u);
}

}  // namespace
}  // namespace hearth
