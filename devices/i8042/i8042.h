#pragma once
// i8042 keyboard controller with a minimal AT keyboard behind it: enough for Linux's i8042 and atkbd
// drivers to bind quickly, for `reboot=k` (command 0xFE pulses the reset line) and for injecting
// Ctrl+Alt+Del. There is no AUX (mouse) port; its tests fail at once so Linux does not wait on timeouts.
//
// Registration: the data (0x60) and status/command (0x64) ports are not adjacent and a BusDevice only sees
// offsets relative to its base, so the controller hands out one 1-byte BusDevice per port. Both keep the
// controller alive:
//   auto kbd = std::make_shared<I8042>(irq1, [&] { vm_stop_requested(); });
//   pio.insert(I8042::data_port(kbd), layout::kI8042DataPort, 1);
//   pio.insert(I8042::command_port(kbd), layout::kI8042CommandPort, 1);
// (The ACPI tables must announce the controller - FADT IAPC_BOOT_ARCH 8042 flag or a PNP0303 device - or
// Linux will not probe it.)
//
// Interrupts: IRQ 1 fires once per keyboard byte, when that byte becomes readable at 0x60 and the guest has
// the keyboard interrupt enabled in the command byte. Controller replies (command byte, self-test, ...) are
// polled by drivers and raise nothing, as in Firecracker.
//
// Threads: port access from vCPU threads, send_ctrl_alt_del from the VMM thread; one mutex guards all state.
// on_reset runs outside the mutex.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "devices/bus.h"
#include "devices/irq.h"
#include "devices/model/device.h"

namespace hearth {

class I8042 final : public Device {
 public:
  static constexpr size_t kKeyboardBufferSize = 16;  // a PS/2 keyboard's own buffer

  struct State {
    uint8_t command_byte = 0x05;  // keyboard interrupt on, system flag set, no translation (scan set 2)
    uint8_t output_port = 0x03;   // reset line inactive, A20 enabled
    bool last_write_was_command = false;  // status bit 3
    uint8_t pending_command = 0;  // controller command waiting for its parameter at 0x60, or 0
    uint8_t keyboard_command = 0;  // keyboard command waiting for its parameter, or 0
    std::optional<uint8_t> controller_reply;  // read before any keyboard byte
    std::vector<uint8_t> keyboard_bytes;      // keyboard -> host, front first
    bool keyboard_irq_sent = false;           // the front keyboard byte has had its interrupt
  };

  I8042(std::shared_ptr<IrqLine> irq, std::function<void()> on_reset);
  I8042(const I8042&) = delete;
  I8042& operator=(const I8042&) = delete;

  static std::shared_ptr<BusDevice> data_port(const std::shared_ptr<I8042>& controller);
  static std::shared_ptr<BusDevice> command_port(const std::shared_ptr<I8042>& controller);

  // Queues press and release of Ctrl, Alt and Delete (set 2, or set 1 when the guest turned translation on).
  // Returns false, queueing nothing, when the keyboard buffer lacks room for the whole sequence.
  bool send_ctrl_alt_del();

  State save_state() const;
  // Throws Error when the state is inconsistent (e.g. more keyboard bytes than the buffer holds).
  void restore_state(const State& state);

  // Device: kind "i8042", state version 1 is State as JSON (controller_reply null when empty). restore()
  // raises no interrupt: one already delivered is recorded in keyboard_irq_sent, the IOAPIC travels apart.
  std::string_view kind() const override { return "i8042"; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;

 private:
  class Port final : public BusDevice {
   public:
    Port(I8042& controller, bool command) : controller_(controller), command_(command) {}
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

   private:
    I8042& controller_;
    const bool command_;
  };

  uint8_t port_read(bool command);
  void port_write(bool command, uint8_t value);
  uint8_t read_data();
  uint8_t read_status() const;
  bool write_command(uint8_t command);  // true when the guest asked for a reset
  void write_data(uint8_t value);
  void keyboard_command(uint8_t value);
  void reply(uint8_t byte) { s_.controller_reply = byte; }
  void keyboard_send(std::initializer_list<uint8_t> bytes);
  bool keyboard_visible() const;
  void update_irq();

  const std::shared_ptr<IrqLine> irq_;
  const std::function<void()> on_reset_;
  Port data_port_{*this, false};
  Port command_port_{*this, true};

  mutable std::mutex mu_;
  State s_;
};

}  // namespace hearth
