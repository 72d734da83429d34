#include "devices/i8042/i8042.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "vmm/base/error.h"

namespace hearth {
namespace {

// Controller commands (written to 0x64).
constexpr uint8_t kCmdReadCommandByte = 0x20;
constexpr uint8_t kCmdWriteCommandByte = 0x60;
constexpr uint8_t kCmdDisableAux = 0xa7;
constexpr uint8_t kCmdEnableAux = 0xa8;
constexpr uint8_t kCmdTestAux = 0xa9;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdTestKeyboard = 0xab;
constexpr uint8_t kCmdDisableKeyboard = 0xad;
constexpr uint8_t kCmdEnableKeyboard = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdWriteKeyboardBuffer = 0xd2;
constexpr uint8_t kCmdWriteAuxBuffer = 0xd3;
constexpr uint8_t kCmdWriteAux = 0xd4;

constexpr uint8_t kSelfTestOk = 0x55;
constexpr uint8_t kInterfaceOk = 0x00;
constexpr uint8_t kAuxClockStuckLow = 0x01;  // Linux takes any such error as "no AUX port"

// Command byte bits.
constexpr uint8_t kCbKeyboardInt = 0x01;
constexpr uint8_t kCbSystemFlag = 0x04;
constexpr uint8_t kCbKeyboardDisabled = 0x10;
constexpr uint8_t kCbAuxDisabled = 0x20;
constexpr uint8_t kCbTranslate = 0x40;

// Status register bits.
constexpr uint8_t kStOutputFull = 0x01;
constexpr uint8_t kStSystemFlag = 0x04;  // mirrors the command byte's system flag
constexpr uint8_t kStCommandWritten = 0x08;
constexpr uint8_t kStNotInhibited = 0x10;

// Keyboard commands (written to 0x60) and replies.
constexpr uint8_t kKbdSetLeds = 0xed;
constexpr uint8_t kKbdEcho = 0xee;
constexpr uint8_t kKbdScanSet = 0xf0;
constexpr uint8_t kKbdGetId = 0xf2;
constexpr uint8_t kKbdTypematic = 0xf3;
constexpr uint8_t kKbdReset = 0xff;
constexpr uint8_t kKbdAck = 0xfa;
constexpr uint8_t kKbdSelfTestPassed = 0xaa;

// MF2 keyboard ID; the controller turns 0x83 into 0x41 when translating.
constexpr uint8_t kKbdId0 = 0xab;
constexpr uint8_t kKbdId1Raw = 0x83;
constexpr uint8_t kKbdId1Translated = 0x41;

// Press Ctrl, Alt, Delete, then release them in reverse order so no modifier stays stuck.
constexpr std::array<uint8_t, 11> kCtrlAltDelSet2 = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};
constexpr std::array<uint8_t, 8> kCtrlAltDelSet1 = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};

bool takes_parameter(uint8_t command) {
  switch (command) {
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort:
    case kCmdWriteKeyboardBuffer:
    case kCmdWriteAuxBuffer:
    case kCmdWriteAux:
      return true;
    default:
      return false;
  }
}

bool keyboard_takes_parameter(uint8_t command) {
  return command == kKbdSetLeds || command == kKbdTypematic || command == kKbdScanSet;
}

constexpr uint32_t kStateVersion = 1;

// Saved state comes from a file or another host: every field is checked before any is applied.
const nlohmann::json& state_field(const nlohmann::json& data, const char* name) {
  if (!data.is_object()) throw Error("i8042: state data is not a JSON object");
  auto it = data.find(name);
  if (it == data.end()) throw Error(fmt::format("i8042: state field '{}' is missing", name));
  return *it;
}

uint8_t to_byte(const nlohmann::json& v, const char* name) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 0xff) {
    throw Error(fmt::format("i8042: state field '{}' must be an integer 0..255, not {}", name, v.dump()));
  }
  return static_cast<uint8_t>(v.get<int64_t>());
}

uint8_t byte_field(const nlohmann::json& data, const char* name) { return to_byte(state_field(data, name), name); }

bool bool_field(const nlohmann::json& data, const char* name) {
  const nlohmann::json& v = state_field(data, name);
  if (!v.is_boolean()) throw Error(fmt::format("i8042: state field '{}' must be true or false", name));
  return v.get<bool>();
}

}  // namespace

I8042::I8042(std::shared_ptr<IrqLine> irq, std::function<void()> on_reset)
    : irq_(std::move(irq)), on_reset_(std::move(on_reset)) {
  if (!irq_) throw Error("i8042: no interrupt line");
}

std::shared_ptr<BusDevice> I8042::data_port(const std::shared_ptr<I8042>& controller) {
  // Aliasing constructor: the port shares ownership of the controller it is a member of.
  return std::shared_ptr<BusDevice>(controller, &controller->data_port_);
}

std::shared_ptr<BusDevice> I8042::command_port(const std::shared_ptr<I8042>& controller) {
  return std::shared_ptr<BusDevice>(controller, &controller->command_port_);
}

void I8042::Port::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset != 0) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  data[0] = controller_.port_read(command_);
}

void I8042::Port::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset != 0) return;
  controller_.port_write(command_, data[0]);
}

uint8_t I8042::port_read(bool command) {
  std::lock_guard lock(mu_);
  return command ? read_status() : read_data();
}

void I8042::port_write(bool command, uint8_t value) {
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (command) {
      reset = write_command(value);
    } else {
      write_data(value);
    }
  }
  if (reset && on_reset_) on_reset_();
}

uint8_t I8042::read_status() const {
  uint8_t status = kStNotInhibited;
  if (s_.controller_reply || keyboard_visible()) status |= kStOutputFull;
  if (s_.command_byte & kCbSystemFlag) status |= kStSystemFlag;
  if (s_.last_write_was_command) status |= kStCommandWritten;
  return status;
}

uint8_t I8042::read_data() {
  uint8_t value = 0;  // nothing to read: drivers check OBF first
  if (s_.controller_reply) {
    value = *std::exchange(s_.controller_reply, std::nullopt);
  } else if (keyboard_visible()) {
    value = s_.keyboard_bytes.front();
    s_.keyboard_bytes.erase(s_.keyboard_bytes.begin());
    s_.keyboard_irq_sent = false;  // the next byte, if any, gets its own interrupt
  }
  update_irq();
  return value;
}

bool I8042::write_command(uint8_t command) {
  s_.last_write_was_command = true;
  s_.pending_command = 0;
  uint8_t& cb = s_.command_byte;
  bool reset = false;
  switch (command) {
    case kCmdReadCommandByte: reply(cb); break;
    case kCmdDisableAux: cb |= kCbAuxDisabled; break;
    case kCmdEnableAux: cb &= ~kCbAuxDisabled; break;
    case kCmdTestAux: reply(kAuxClockStuckLow); break;
    case kCmdSelfTest: reply(kSelfTestOk); break;
    case kCmdTestKeyboard: reply(kInterfaceOk); break;
    case kCmdDisableKeyboard: cb |= kCbKeyboardDisabled; break;
    case kCmdEnableKeyboard: cb &= ~kCbKeyboardDisabled; break;
    case kCmdReadOutputPort: reply(s_.output_port); break;
    default:
      if (takes_parameter(command)) {
        s_.pending_command = command;
      } else if ((command & 0xf0) == 0xf0 && !(command & 0x01)) {
        reset = true;  // 0xF0-0xFF pulse the output lines whose bit is clear; bit 0 is the CPU reset line
      }
      break;  // other commands are accepted and ignored
  }
  update_irq();
  return reset;
}

void I8042::write_data(uint8_t value) {
  s_.last_write_was_command = false;
  switch (std::exchange(s_.pending_command, 0)) {
    case kCmdWriteCommandByte: s_.command_byte = value; break;
    case kCmdWriteOutputPort: s_.output_port = value; break;
    case kCmdWriteKeyboardBuffer: keyboard_send({value}); break;
    // No AUX port: the looped byte comes back as plain data, which makes Linux's AUX probe fail at once.
    case kCmdWriteAuxBuffer: reply(value); break;
    case kCmdWriteAux: break;
    default: keyboard_command(value); break;
  }
  update_irq();
}

void I8042::keyboard_command(uint8_t value) {
  // A byte with bit 7 clear completes a pending parameterised command; anything else starts a new one.
  if (s_.keyboard_command && !(value & 0x80)) {
    uint8_t command = std::exchange(s_.keyboard_command, 0);
    if (command == kKbdScanSet && value == 0) {
      keyboard_send({kKbdAck, 0x02});  // report the current set: always 2
    } else {
      keyboard_send({kKbdAck});
    }
    return;
  }
  s_.keyboard_command = 0;
  // A PS/2 keyboard drops its unsent bytes on any command, so the reply comes next.
  s_.keyboard_bytes.clear();
  s_.keyboard_irq_sent = false;
  switch (value) {
    case kKbdEcho: keyboard_send({kKbdEcho}); break;
    case kKbdGetId:
      keyboard_send({kKbdAck, kKbdId0, (s_.command_byte & kCbTranslate) ? kKbdId1Translated : kKbdId1Raw});
      break;
    case kKbdReset: keyboard_send({kKbdAck, kKbdSelfTestPassed}); break;
    default:
      if (keyboard_takes_parameter(value)) s_.keyboard_command = value;
      keyboard_send({kKbdAck});  // everything else (enable, disable, defaults, ...) is simply acknowledged
      break;
  }
}

void I8042::keyboard_send(std::initializer_list<uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (s_.keyboard_bytes.size() >= kKeyboardBufferSize) return;  // a full keyboard drops what follows
    s_.keyboard_bytes.push_back(b);
  }
}

bool I8042::keyboard_visible() const {
  return !s_.controller_reply && !(s_.command_byte & kCbKeyboardDisabled) && !s_.keyboard_bytes.empty();
}

void I8042::update_irq() {
  // Forget the interrupt of a byte that got hidden (reply in front, interface or interrupt disabled), so it
  // is raised again when the byte reappears: a spare interrupt is harmless, a missing one stalls the keyboard.
  if (!keyboard_visible() || !(s_.command_byte & kCbKeyboardInt)) {
    s_.keyboard_irq_sent = false;
    return;
  }
  if (!s_.keyboard_irq_sent) {
    s_.keyboard_irq_sent = true;
    irq_->trigger();
  }
}

bool I8042::send_ctrl_alt_del() {
  std::lock_guard lock(mu_);
  std::span<const uint8_t> seq = (s_.command_byte & kCbTranslate) ? std::span<const uint8_t>(kCtrlAltDelSet1)
                                                                   : std::span<const uint8_t>(kCtrlAltDelSet2);
  if (kKeyboardBufferSize - s_.keyboard_bytes.size() < seq.size()) return false;
  s_.keyboard_bytes.insert(s_.keyboard_bytes.end(), seq.begin(), seq.end());
  update_irq();
  return true;
}

I8042::State I8042::save_state() const {
  std::lock_guard lock(mu_);
  return s_;
}

void I8042::restore_state(const State& state) {
  if (state.keyboard_bytes.size() > kKeyboardBufferSize) {
    throw Error(fmt::format("i8042: state field 'keyboard_bytes' holds {} bytes; the keyboard buffers {}",
                            state.keyboard_bytes.size(), kKeyboardBufferSize));
  }
  if (state.pending_command && !takes_parameter(state.pending_command)) {
    throw Error(fmt::format("i8042: state field 'pending_command': command {:#04x} takes no parameter",
                            state.pending_command));
  }
  if (state.keyboard_command && !keyboard_takes_parameter(state.keyboard_command)) {
    throw Error(fmt::format("i8042: state field 'keyboard_command': keyboard command {:#04x} takes no parameter",
                            state.keyboard_command));
  }
  std::lock_guard lock(mu_);
  s_ = state;
  // A saved device always has keyboard_irq_sent set for a visible byte with interrupts on, so this raises
  // nothing (the IOAPIC state travels separately); it only fixes up a state where the flag disagrees.
  update_irq();
}

DeviceState I8042::save() const {
  const State st = save_state();
  nlohmann::json data = {
      {"command_byte", st.command_byte},
      {"output_port", st.output_port},
      {"last_write_was_command", st.last_write_was_command},
      {"pending_command", st.pending_command},
      {"keyboard_command", st.keyboard_command},
      {"controller_reply", st.controller_reply ? nlohmann::json(*st.controller_reply) : nlohmann::json(nullptr)},
      {"keyboard_bytes", st.keyboard_bytes},
      {"keyboard_irq_sent", st.keyboard_irq_sent},
  };
  return DeviceState{std::string(kind()), "", kStateVersion, std::move(data)};
}

void I8042::restore(const DeviceState& state) {
  check_state_header(state, kind(), kStateVersion);
  const nlohmann::json& d = state.data;
  State st;
  st.command_byte = byte_field(d, "command_byte");
  st.output_port = byte_field(d, "output_port");
  st.last_write_was_command = bool_field(d, "last_write_was_command");
  st.pending_command = byte_field(d, "pending_command");
  st.keyboard_command = byte_field(d, "keyboard_command");
  const nlohmann::json& reply = state_field(d, "controller_reply");
  if (!reply.is_null()) st.controller_reply = to_byte(reply, "controller_reply");
  const nlohmann::json& bytes = state_field(d, "keyboard_bytes");
  if (!bytes.is_array()) throw Error("i8042: state field 'keyboard_bytes' must be an array of bytes");
  if (bytes.size() > kKeyboardBufferSize) {
    throw Error(fmt::format("i8042: state field 'keyboard_bytes' holds {} bytes; the keyboard buffers {}",
                            bytes.size(), kKeyboardBufferSize));
  }
  for (const auto& b : bytes) st.keyboard_bytes.push_back(to_byte(b, "keyboard_bytes"));
  st.keyboard_irq_sent = bool_field(d, "keyboard_irq_sent");
  restore_state(st);  // checks the pending commands, applies under the mutex
}

}  // namespace hearth
