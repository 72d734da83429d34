#pragma once
// 16550A UART as Linux's 8250 driver and Firecracker's vm-superio expect it.
//
// The VMM registers it on the PIO bus: pio.insert(uart, layout::kSerialPort, Uart16550::kRegisterCount)
// with an IrqLine on layout::kSerialIrq. Transmission is instant: every THR byte goes straight to the sink,
// so THR is always empty (LSR THRE|TEMT) and each THR write ends with a fresh THRE interrupt.
// The interrupt output is modelled as a level and trigger() fires on its rising edge, which is what the
// guest sees on a real board behind an edge-triggered IOAPIC pin.
//
// Threads: register access comes from vCPU threads, input from the VMM thread; one mutex guards all state.
// The sink and the input-space callback run under that mutex: the sink so bytes from several vCPUs stay in
// order, the callback so that once replaced it never runs again. Neither may call back into the UART.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "devices/bus.h"
#include "devices/irq.h"
#include "devices/model/device.h"

namespace hearth {

class Uart16550 final : public BusDevice, public Device {
 public:
  static constexpr uint64_t kRegisterCount = 8;
  static constexpr size_t kFifoSize = 64;

  using OutputSink = std::function<void(std::span<const uint8_t>)>;

  // Everything the guest can observe; rx_fifo front is the next byte RBR returns.
  struct State {
    uint8_t dll = 0x0c;  // divisor 12: 9600 baud
    uint8_t dlm = 0;
    uint8_t ier = 0;
    uint8_t fcr = 0;  // bit 0 (FIFO enable) and the trigger-level bits 7:6
    uint8_t lcr = 0x03;  // 8N1
    uint8_t mcr = 0x08;  // OUT2
    uint8_t line_errors = 0;  // sticky LSR error bits (overrun), cleared by reading LSR
    uint8_t msr_delta = 0;    // MSR bits 3:0, cleared by reading MSR
    uint8_t scr = 0;
    bool thre_pending = false;  // THR-empty interrupt not yet acknowledged
    std::vector<uint8_t> rx_fifo;
  };

  // An empty sink discards output. The sink must not throw.
  Uart16550(std::shared_ptr<IrqLine> irq, OutputSink sink);

  // Only 1-byte accesses at offsets 0..7 do anything; others read 0xff and are ignored on write.
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Queues host input for the guest. Returns how many leading bytes fit (64 with FIFOs enabled, 1 without);
  // the caller keeps the rest and retries once the input-space callback fires. Nothing is lost, so a
  // short return is not an overrun. Raises the received-data interrupt when the guest enabled it.
  size_t enqueue_input(std::span<const uint8_t> bytes);
  // Whether enqueue_input would accept at least one byte now.
  bool input_space() const;
  // Called (from the reading vCPU thread, under the mutex) each time the receive buffer goes from full to
  // having room. Keep it to a wake-up such as EventFd::signal(); pass nullptr to drop it.
  void set_input_space_callback(std::function<void()> callback);

  // Bytes delivered to the sink since creation (metrics; not part of State).
  uint64_t output_bytes() const { return output_bytes_.load(std::memory_order_relaxed); }

  State save_state() const;
  // Throws Error when the state is inconsistent (e.g. more buffered bytes than the FIFO holds).
  void restore_state(const State& state);

  // Device: kind "serial", state version 1 is State as JSON. restore() rejects any register value the
  // hardware cannot hold and takes the interrupt level without a new edge (the IOAPIC state travels on
  // its own). Counter: <prefix>output_bytes.
  std::string_view kind() const override { return "serial"; }
  DeviceState save() const override;
  void restore(const DeviceState& state) override;
  void export_metrics(metrics::Registry& registry, const std::string& prefix) const override;

 private:
  uint8_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint8_t value);
  void transmit(uint8_t byte);
  void push_rx(uint8_t byte);  // loopback path: a byte that does not fit is lost (overrun)
  void write_fcr(uint8_t value);
  void write_mcr(uint8_t value);
  uint8_t interrupt_id() const;  // IIR bits 3:0 for the highest-priority pending source
  uint8_t modem_status_lines() const;
  size_t rx_capacity() const;
  size_t rx_room() const { return rx_capacity() - s_.rx_fifo.size(); }
  bool fifo_enabled() const;
  void update_irq();
  void notify_if_room(bool was_full);

  const std::shared_ptr<IrqLine> irq_;
  const OutputSink sink_;
  std::function<void()> on_input_space_;
  std::atomic<uint64_t> output_bytes_{0};

  mutable std::mutex mu_;
  State s_;
  bool irq_level_ = false;
};

}  // namespace hearth
