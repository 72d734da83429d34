#include "devices/serial/uart16550.h"

#include <algorithm>
#include <string>
#include <utility>

#include "vmm/base/error.h"

namespace hearth {
namespace {

// Register offsets (DLAB selects DLL/DLM at 0/1).
constexpr uint64_t kData = 0;  // RBR read, THR write, DLL
constexpr uint64_t kIer = 1;   // DLM under DLAB
constexpr uint64_t kIir = 2;   // IIR read, FCR write
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kIerRda = 0x01;
constexpr uint8_t kIerThre = 0x02;
constexpr uint8_t kIerRls = 0x04;
constexpr uint8_t kIerMs = 0x08;
constexpr uint8_t kIerMask = 0x0f;

constexpr uint8_t kIidNone = 0x01;
constexpr uint8_t kIidRls = 0x06;
constexpr uint8_t kIidRda = 0x04;
constexpr uint8_t kIidThre = 0x02;
constexpr uint8_t kIidMs = 0x00;
constexpr uint8_t kIirFifoBits = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kFcrTrigger = 0xc0;

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrErrors = 0x1e;  // OE, PE, FE, BI
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;

constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;
constexpr uint8_t kMsrDcts = 0x01;
constexpr uint8_t kMsrDdsr = 0x02;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrDdcd = 0x08;
// With no real modem behind us, the lines say "carrier, ready, clear to send" as vm-superio does.
constexpr uint8_t kMsrIdle = kMsrDcd | kMsrDsr | kMsrCts;
constexpr uint8_t kMsrDeltas = kMsrDcts | kMsrDdsr | kMsrTeri | kMsrDdcd;

constexpr uint32_t kStateVersion = 1;

// Saved state comes from a file or another host: every field is checked before any is applied.
const nlohmann::json& state_field(const nlohmann::json& data, const char* name) {
  if (!data.is_object()) throw Error("serial: state data is not a JSON object");
  auto it = data.find(name);
  if (it == data.end()) throw Error(fmt::format("serial: state field '{}' is missing", name));
  return *it;
}

uint8_t to_byte(const nlohmann::json& v, const char* name) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 0xff) {
    throw Error(fmt::format("serial: state field '{}' must be an integer 0..255, not {}", name, v.dump()));
  }
  return static_cast<uint8_t>(v.get<int64_t>());
}

uint8_t byte_field(const nlohmann::json& data, const char* name, uint8_t valid_bits = 0xff) {
  const uint8_t value = to_byte(state_field(data, name), name);
  if (value & ~valid_bits) {
    throw Error(fmt::format("serial: state field '{}' is {:#04x}; only bits {:#04x} exist", name, value, valid_bits));
  }
  return value;
}

bool bool_field(const nlohmann::json& data, const char* name) {
  const nlohmann::json& v = state_field(data, name);
  if (!v.is_boolean()) throw Error(fmt::format("serial: state field '{}' must be true or false", name));
  return v.get<bool>();
}

}  // namespace

Uart16550::Uart16550(std::shared_ptr<IrqLine> irq, OutputSink sink) : irq_(std::move(irq)), sink_(std::move(sink)) {
  if (!irq_) throw Error("serial: no interrupt line");
}

void Uart16550::set_input_space_callback(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  on_input_space_ = std::move(callback);
}

void Uart16550::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset >= kRegisterCount) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  std::lock_guard lock(mu_);
  bool was_full = rx_room() == 0;
  data[0] = read_register(offset);
  notify_if_room(was_full);
}

void Uart16550::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset >= kRegisterCount) return;
  std::lock_guard lock(mu_);
  bool was_full = rx_room() == 0;
  write_register(offset, data[0]);  // FCR can clear or grow the buffer
  notify_if_room(was_full);
}

void Uart16550::notify_if_room(bool was_full) {
  // Under the mutex, so a callback replaced by set_input_space_callback can never run afterwards.
  if (was_full && rx_room() > 0 && on_input_space_) on_input_space_();
}

uint8_t Uart16550::read_register(uint64_t offset) {
  const bool dlab = s_.lcr & kLcrDlab;
  uint8_t value = 0;
  switch (offset) {
    case kData:
      if (dlab) return s_.dll;
      if (!s_.rx_fifo.empty()) {
        value = s_.rx_fifo.front();
        s_.rx_fifo.erase(s_.rx_fifo.begin());
      }
      break;
    case kIer:
      return dlab ? s_.dlm : s_.ier;
    case kIir: {
      uint8_t id = interrupt_id();
      if (id == kIidThre) s_.thre_pending = false;  // reading IIR acknowledges THRE only
      value = id | (fifo_enabled() ? kIirFifoBits : 0);
      break;
    }
    case kLcr:
      return s_.lcr;
    case kMcr:
      return s_.mcr;
    case kLsr:
      value = s_.line_errors | kLsrThre | kLsrTemt | (s_.rx_fifo.empty() ? 0 : kLsrDr);
      s_.line_errors = 0;
      break;
    case kMsr:
      value = modem_status_lines() | s_.msr_delta;
      s_.msr_delta = 0;
      break;
    case kScr:
      return s_.scr;
  }
  update_irq();
  return value;
}

void Uart16550::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = s_.lcr & kLcrDlab;
  switch (offset) {
    case kData:
      if (dlab) {
        s_.dll = value;
      } else {
        transmit(value);
      }
      return;  // transmit updates the interrupt itself
    case kIer:
      if (dlab) {
        s_.dlm = value;
        return;
      } else {
        uint8_t old = s_.ier;
        s_.ier = value & kIerMask;
        // Enabling THRI while THR is empty (always, here) raises THRE; disabling drops it.
        if ((s_.ier ^ old) & kIerThre) s_.thre_pending = s_.ier & kIerThre;
      }
      break;
    case kIir:
      write_fcr(value);
      break;
    case kLcr:
      s_.lcr = value;
      return;
    case kMcr:
      write_mcr(value);
      break;
    case kScr:
      s_.scr = value;
      return;
    default:  // LSR and MSR are read-only
      return;
  }
  update_irq();
}

void Uart16550::transmit(uint8_t byte) {
  // THR fills (dropping a pending THRE), then empties at once: the level falls and rises again.
  s_.thre_pending = false;
  update_irq();
  if (s_.mcr & kMcrLoop) {
    push_rx(byte);
  } else {
    if (sink_) sink_(std::span<const uint8_t>(&byte, 1));
    output_bytes_.fetch_add(1, std::memory_order_relaxed);
  }
  s_.thre_pending = true;
  update_irq();
}

void Uart16550::push_rx(uint8_t byte) {
  if (rx_room() == 0) {
    s_.line_errors |= kLsrOe;
    return;
  }
  s_.rx_fifo.push_back(byte);
}

void Uart16550::write_fcr(uint8_t value) {
  const bool enable = value & kFcrEnable;
  // Toggling FIFO mode or asking for it clears the receive side; the other FCR bits only count with FIFOs on.
  if (enable != fifo_enabled() || (enable && (value & kFcrClearRx))) s_.rx_fifo.clear();
  s_.fcr = enable ? static_cast<uint8_t>(value & (kFcrEnable | kFcrTrigger)) : 0;
}

void Uart16550::write_mcr(uint8_t value) {
  uint8_t before = modem_status_lines();
  s_.mcr = value & kMcrMask;
  uint8_t after = modem_status_lines();
  uint8_t changed = before ^ after;
  if (changed & kMsrCts) s_.msr_delta |= kMsrDcts;
  if (changed & kMsrDsr) s_.msr_delta |= kMsrDdsr;
  if (changed & kMsrDcd) s_.msr_delta |= kMsrDdcd;
  if ((before & kMsrRi) && !(after & kMsrRi)) s_.msr_delta |= kMsrTeri;  // trailing edge only
}

uint8_t Uart16550::modem_status_lines() const {
  if (!(s_.mcr & kMcrLoop)) return kMsrIdle;
  // Loopback wires the modem outputs back to the inputs.
  uint8_t lines = 0;
  if (s_.mcr & kMcrRts) lines |= kMsrCts;
  if (s_.mcr & kMcrDtr) lines |= kMsrDsr;
  if (s_.mcr & kMcrOut1) lines |= kMsrRi;
  if (s_.mcr & kMcrOut2) lines |= kMsrDcd;
  return lines;
}

uint8_t Uart16550::interrupt_id() const {
  if ((s_.ier & kIerRls) && (s_.line_errors & kLsrErrors)) return kIidRls;
  if ((s_.ier & kIerRda) && !s_.rx_fifo.empty()) return kIidRda;
  if ((s_.ier & kIerThre) && s_.thre_pending) return kIidThre;
  if ((s_.ier & kIerMs) && s_.msr_delta) return kIidMs;
  return kIidNone;
}

bool Uart16550::fifo_enabled() const { return s_.fcr & kFcrEnable; }

size_t Uart16550::rx_capacity() const { return fifo_enabled() ? kFifoSize : 1; }

void Uart16550::update_irq() {
  bool level = interrupt_id() != kIidNone;
  if (level && !irq_level_) irq_->trigger();
  irq_level_ = level;
}

size_t Uart16550::enqueue_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), rx_room());
  s_.rx_fifo.insert(s_.rx_fifo.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  if (n > 0) update_irq();
  return n;
}

bool Uart16550::input_space() const {
  std::lock_guard lock(mu_);
  return rx_room() > 0;
}

Uart16550::State Uart16550::save_state() const {
  std::lock_guard lock(mu_);
  return s_;
}

void Uart16550::restore_state(const State& state) {
  const size_t capacity = (state.fcr & kFcrEnable) ? kFifoSize : 1;
  if (state.rx_fifo.size() > capacity) {
    throw Error(fmt::format("serial state: {} buffered input bytes exceed the receive buffer of {}",
                            state.rx_fifo.size(), capacity));
  }
  std::lock_guard lock(mu_);
  s_ = state;
  // Keep to the bits the hardware has, so a crafted state cannot create impossible register values.
  s_.ier &= kIerMask;
  s_.fcr &= kFcrEnable | kFcrTrigger;
  s_.mcr &= kMcrMask;
  s_.line_errors &= kLsrErrors;
  s_.msr_delta &= kMsrDeltas;
  // The interrupt controller's own state is restored separately: take the level without a new edge.
  irq_level_ = interrupt_id() != kIidNone;
}

DeviceState Uart16550::save() const {
  const State st = save_state();
  nlohmann::json data = {
      {"dll", st.dll},
      {"dlm", st.dlm},
      {"ier", st.ier},
      {"fcr", st.fcr},
      {"lcr", st.lcr},
      {"mcr", st.mcr},
      {"line_errors", st.line_errors},
      {"msr_delta", st.msr_delta},
      {"scr", st.scr},
      {"thre_pending", st.thre_pending},
      {"rx_fifo", st.rx_fifo},
  };
  return DeviceState{std::string(kind()), "", kStateVersion, std::move(data)};
}

void Uart16550::restore(const DeviceState& state) {
  check_state_header(state, kind(), kStateVersion);
  const nlohmann::json& d = state.data;
  State st;
  st.dll = byte_field(d, "dll");
  st.dlm = byte_field(d, "dlm");
  st.ier = byte_field(d, "ier", kIerMask);
  st.fcr = byte_field(d, "fcr", kFcrEnable | kFcrTrigger);
  st.lcr = byte_field(d, "lcr");
  st.mcr = byte_field(d, "mcr", kMcrMask);
  st.line_errors = byte_field(d, "line_errors", kLsrErrors);
  st.msr_delta = byte_field(d, "msr_delta", kMsrDeltas);
  st.scr = byte_field(d, "scr");
  st.thre_pending = bool_field(d, "thre_pending");
  const nlohmann::json& fifo = state_field(d, "rx_fifo");
  if (!fifo.is_array()) throw Error("serial: state field 'rx_fifo' must be an array of bytes");
  const size_t capacity = (st.fcr & kFcrEnable) ? kFifoSize : 1;
  if (fifo.size() > capacity) {
    throw Error(fmt::format("serial: state field 'rx_fifo' holds {} bytes; the receive buffer holds {}", fifo.size(),
                            capacity));
  }
  for (const auto& b : fifo) st.rx_fifo.push_back(to_byte(b, "rx_fifo"));
  restore_state(st);  // under the mutex; sets the interrupt level from the restored registers
}

void Uart16550::export_metrics(metrics::Registry& registry, const std::string& prefix) const {
  export_counter(registry, prefix + "output_bytes", output_bytes());
}

}  // namespace hearth
