#include "devices/i8042/i8042.h"

#include <gtest/gtest.h>

#include <gmock/gmock.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "devices/bus.h"
#include "vmm/arch/layout.h"
#include "vmm/base/error.h"

namespace hearth {
namespace {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

constexpr uint8_t kStatusObf = 0x01;
const std::vector<uint8_t> kCadSet2 = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};
const std::vector<uint8_t> kCadSet1 = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};

// Drives the controller through a PIO bus exactly as the VMM registers it.
class I8042Test : public ::testing::Test {
 protected:
  void SetUp() override {
    bus.insert(I8042::data_port(kbd), layout::kI8042DataPort, 1);
    bus.insert(I8042::command_port(kbd), layout::kI8042CommandPort, 1);
  }
  uint8_t in(uint16_t port) {
    std::array<uint8_t, 1> b{};
    EXPECT_TRUE(bus.read(port, b));
    return b[0];
  }
  void out(uint16_t port, uint8_t v) { EXPECT_TRUE(bus.write(port, std::array<uint8_t, 1>{v})); }
  uint8_t status() { return in(layout::kI8042CommandPort); }
  uint8_t data() { return in(layout::kI8042DataPort); }
  void command(uint8_t c) { out(layout::kI8042CommandPort, c); }
  void write_data(uint8_t v) { out(layout::kI8042DataPort, v); }
  // Reads every byte the guest would see, checking one new interrupt per keyboard byte.
  std::vector<uint8_t> drain_with_irqs() {
    std::vector<uint8_t> got;
    while (status() & kStatusObf) {
      EXPECT_EQ(irq->count, static_cast<int>(got.size()) + base_irqs) << "before byte " << got.size();
      got.push_back(data());
    }
    return got;
  }

  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  int resets = 0;
  int base_irqs = 1;
  std::shared_ptr<I8042> kbd = std::make_shared<I8042>(irq, [this] { ++resets; });
  Bus bus{"pio"};
};

TEST_F(I8042Test, PulseResetCommandCallsOnReset) {
  command(0xff);  // pulses nothing
  command(0x20);
  EXPECT_EQ(resets, 0);
  command(0xfe);
  EXPECT_EQ(resets, 1);
}

TEST_F(I8042Test, SelfTestsAnswerAndSetOutputFull) {
  EXPECT_EQ(status() & kStatusObf, 0);
  command(0xaa);
  EXPECT_EQ(status() & kStatusObf, kStatusObf);
  EXPECT_EQ(data(), 0x55);
  EXPECT_EQ(status() & kStatusObf, 0);
  command(0xab);
  EXPECT_EQ(data(), 0x00);
  command(0xa9);  // AUX test fails at once: no mouse port, and Linux need not wait for a timeout
  EXPECT_NE(data(), 0x00);
  EXPECT_EQ(irq->count, 0);  // controller replies are polled
}

TEST_F(I8042Test, CommandByteAndOutputPortReadWrite) {
  command(0x20);
  EXPECT_EQ(data(), 0x05);
  command(0x60);
  EXPECT_NE(status() & 0x08, 0);  // last write went to the command port
  write_data(0x47);
  EXPECT_EQ(status() & 0x08, 0);
  command(0x20);
  EXPECT_EQ(data(), 0x47);
  command(0xd1);
  write_data(0xdf);
  command(0xd0);
  EXPECT_EQ(data(), 0xdf);
  EXPECT_EQ(resets, 0);
}

TEST_F(I8042Test, CtrlAltDelArrivesInOrderWithAnInterruptPerByte) {
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  EXPECT_EQ(status() & kStatusObf, kStatusObf);
  EXPECT_EQ(drain_with_irqs(), kCadSet2);
  EXPECT_EQ(irq->count, static_cast<int>(kCadSet2.size()));  // none after the last byte
}

TEST_F(I8042Test, CtrlAltDelUsesSet1WhenTheGuestTranslates) {
  command(0x60);
  write_data(0x45);
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  EXPECT_EQ(drain_with_irqs(), kCadSet1);
}

TEST_F(I8042Test, CtrlAltDelNeedsRoomForTheWholeSequence) {
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  EXPECT_FALSE(kbd->send_ctrl_alt_del());
  EXPECT_EQ(drain_with_irqs(), kCadSet2);  // the refused one left nothing behind
  EXPECT_TRUE(kbd->send_ctrl_alt_del());
}

TEST_F(I8042Test, KeyboardBytesWaitWhileTheInterfaceOrInterruptIsOff) {
  command(0xad);
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  EXPECT_EQ(status() & kStatusObf, 0);
  EXPECT_EQ(irq->count, 0);
  command(0xae);
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(data(), 0x14);
  command(0x60);
  write_data(0x04);  // keyboard interrupt off: polling still works, no interrupts
  EXPECT_EQ(data(), 0x11);
  EXPECT_EQ(irq->count, 2);  // only the one raised for 0x11 before the write
  command(0x60);
  write_data(0x05);
  EXPECT_EQ(irq->count, 3);  // turning it back on announces the waiting byte
  EXPECT_EQ(data(), 0xe0);
}

TEST_F(I8042Test, ControllerReplyIsReadBeforeWaitingKeyboardBytes) {
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  command(0x20);
  EXPECT_EQ(data(), 0x05);
  EXPECT_EQ(data(), 0x14);
}

TEST_F(I8042Test, KeyboardAnswersAtkbdProbe) {
  write_data(0xf2);  // GETID
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(data(), 0xfa);
  EXPECT_EQ(data(), 0xab);
  EXPECT_EQ(data(), 0x83);
  EXPECT_EQ(irq->count, 3);
  write_data(0xed);  // set LEDs takes a parameter; both bytes are acknowledged
  EXPECT_EQ(data(), 0xfa);
  write_data(0x02);
  EXPECT_EQ(data(), 0xfa);
  write_data(0xff);  // reset: ACK then self-test passed
  EXPECT_EQ(data(), 0xfa);
  EXPECT_EQ(data(), 0xaa);
  EXPECT_EQ(status() & kStatusObf, 0);
}

TEST_F(I8042Test, SaveRestoreMidSequence) {
  ASSERT_TRUE(kbd->send_ctrl_alt_del());
  EXPECT_EQ(data(), 0x14);
  EXPECT_EQ(data(), 0x11);
  I8042::State saved = kbd->save_state();

  auto irq2 = std::make_shared<CountingIrq>();
  auto copy = std::make_shared<I8042>(irq2, [] {});
  copy->restore_state(saved);
  EXPECT_EQ(irq2->count, 0);  // the IOAPIC state is restored on its own
  std::vector<uint8_t> rest;
  auto port = I8042::data_port(copy);
  for (int i = 0; i < 9; ++i) {
    std::array<uint8_t, 1> b{};
    port->read(0, b);
    rest.push_back(b[0]);
  }
  EXPECT_EQ(rest, std::vector<uint8_t>(kCadSet2.begin() + 2, kCadSet2.end()));
  EXPECT_EQ(irq2->count, 8);  // the first restored byte's interrupt was already delivered
}

TEST_F(I8042Test, RestoreRejectsBadState) {
  I8042::State s;
  s.keyboard_bytes.assign(I8042::kKeyboardBufferSize + 1, 0);
  EXPECT_THROW(kbd->restore_state(s), Error);
  s.keyboard_bytes.clear();
  s.pending_command = 0xaa;
  EXPECT_THROW(kbd->restore_state(s), Error);
}

TEST_F(I8042Test, WideAccessesAreIgnored) {
  command(0xaa);
  std::array<uint8_t, 1> b{};
  auto port = I8042::data_port(kbd);
  std::array<uint8_t, 2> word{};
  port->read(0, word);
  EXPECT_EQ(word[0], 0xff);
  port->write(0, std::array<uint8_t, 2>{0xfe, 0xfe});
  I8042::command_port(kbd)->write(0, std::array<uint8_t, 2>{0xfe, 0xfe});
  EXPECT_EQ(resets, 0);
  port->read(0, b);
  EXPECT_EQ(b[0], 0x55);
}

// Device interface. Drives the controller into a state with something in every field, reads everything
// back through the ports on the original and on a restored copy, and expects the same bytes and interrupts.
class I8042DeviceStateTest : public I8042Test {
 protected:
  void SetUp() override {
    I8042Test::SetUp();
    command(0x60);
    write_data(0x45);  // keyboard interrupt, system flag, translation (set 1)
    write_data(0xed);  // set LEDs: ACK, then waits for its parameter
    ASSERT_EQ(data(), 0xfa);
    ASSERT_TRUE(kbd->send_ctrl_alt_del());
    ASSERT_EQ(data(), kCadSet1[0]);
    command(0x20);  // the command byte now waits in front of the keyboard bytes
    command(0xd1);  // write output port: waits for its parameter
  }
  std::shared_ptr<CountingIrq> irq2 = std::make_shared<CountingIrq>();
  std::shared_ptr<I8042> copy = std::make_shared<I8042>(irq2, [] {});
};

// Every read and each interrupt count along the way.
std::vector<int> probe(const std::shared_ptr<I8042>& c, const CountingIrq& irq) {
  auto data_port = I8042::data_port(c);
  auto command_port = I8042::command_port(c);
  auto in = [](BusDevice& p) {
    std::array<uint8_t, 1> b{};
    p.read(0, b);
    return int{b[0]};
  };
  auto out = [](BusDevice& p, uint8_t v) { p.write(0, std::array<uint8_t, 1>{v}); };
  const int irq_base = irq.count;
  std::vector<int> v;
  v.push_back(in(*command_port));  // status: OBF, system flag, last write was a command
  v.push_back(in(*data_port));     // the command byte
  out(*data_port, 0x01);           // the pending 0xd1 takes it
  out(*data_port, 0x02);           // the pending LEDs command takes it: ACK queued after the keys
  out(*command_port, 0xd0);
  v.push_back(in(*data_port));  // output port
  while (in(*command_port) & kStatusObf) {
    v.push_back(in(*data_port));
    v.push_back(irq.count - irq_base);
  }
  return v;
}

TEST_F(I8042DeviceStateTest, SaveRestoreReadsBackTheSame) {
  const DeviceState saved = kbd->save();
  EXPECT_EQ(saved.kind, "i8042");
  EXPECT_EQ(saved.version, 1u);
  EXPECT_EQ(saved.data.at("command_byte"), 0x45);
  EXPECT_EQ(saved.data.at("controller_reply"), 0x45);
  EXPECT_EQ(saved.data.at("pending_command"), 0xd1);
  EXPECT_EQ(saved.data.at("keyboard_command"), 0xed);
  EXPECT_EQ(saved.data.at("keyboard_bytes").size(), kCadSet1.size() - 1);
  copy->restore(nlohmann::json::parse(nlohmann::json(saved).dump()).get<DeviceState>());
  EXPECT_EQ(nlohmann::json(copy->save()), nlohmann::json(saved));
  EXPECT_EQ(irq2->count, 0);
  const std::vector<int> got = probe(copy, *irq2);
  EXPECT_EQ(got, probe(kbd, *irq));
  EXPECT_EQ(got.at(2), 0x01);  // the output port write was carried over
  EXPECT_EQ(got.at(got.size() - 2), 0xfa);  // and so was the half-done LEDs command
  EXPECT_EQ(nlohmann::json(copy->save()), nlohmann::json(kbd->save()));
}

TEST_F(I8042DeviceStateTest, RestoreRejectsAnotherVersionNamingBoth) {
  DeviceState s = kbd->save();
  s.version = 2;
  try {
    copy->restore(s);
    FAIL() << "version 2 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("version 2"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1..1"));
  }
}

TEST_F(I8042DeviceStateTest, RestoreRejectsMissingOrBadFieldsNamingThem) {
  const nlohmann::json before = nlohmann::json(copy->save());
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& field) {
    DeviceState s = kbd->save();
    edit(s.data);
    try {
      copy->restore(s);
      ADD_FAILURE() << "accepted a state with a bad '" << field << "'";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("i8042: state field '" + field + "'"));
    }
    EXPECT_EQ(nlohmann::json(copy->save()), before);
  };
  for (const char* f : {"command_byte", "output_port", "last_write_was_command", "pending_command",
                        "keyboard_command", "controller_reply", "keyboard_bytes", "keyboard_irq_sent"}) {
    expect_error([&](nlohmann::json& d) { d.erase(f); }, f);
  }
  expect_error([](nlohmann::json& d) { d["command_byte"] = 0x100; }, "command_byte");
  expect_error([](nlohmann::json& d) { d["controller_reply"] = -3; }, "controller_reply");
  expect_error([](nlohmann::json& d) { d["pending_command"] = 0xaa; }, "pending_command");
  expect_error([](nlohmann::json& d) { d["keyboard_command"] = 0xff; }, "keyboard_command");
  expect_error([](nlohmann::json& d) { d["keyboard_bytes"] = std::vector<int>(I8042::kKeyboardBufferSize + 1, 0); },
               "keyboard_bytes");
  expect_error([](nlohmann::json& d) { d["keyboard_irq_sent"] = "yes"; }, "keyboard_irq_sent");
}

TEST_F(I8042DeviceStateTest, EmptyReplyIsNull) {
  EXPECT_EQ(data(), 0x45);
  EXPECT_TRUE(kbd->save().data.at("controller_reply").is_null());
  copy->restore(kbd->save());
  EXPECT_EQ(nlohmann::json(copy->save()), nlohmann::json(kbd->save()));
}

}  // namespace
}  // namespace hearth
