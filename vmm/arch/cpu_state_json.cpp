#include "vmm/arch/cpu_state_json.h"

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::arch {
namespace {

template <typename T>
std::string hex_of(const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  std::string out;
  out.reserve(sizeof(T) * 2);
  for (size_t i = 0; i < sizeof(T); ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <typename T>
void read_hex(const nlohmann::json& j, const char* field, T& value) {
  const auto it = j.find(field);
  if (it == j.end() || !it->is_string()) throw Error(fmt::format("KVM state: field '{}' is missing", field));
  const std::string& text = it->get_ref<const std::string&>();
  if (text.size() != sizeof(T) * 2) {
    throw Error(fmt::format("KVM state: field '{}' holds {} bytes, this host's KVM uses {}", field, text.size() / 2,
                            sizeof(T)));
  }
  auto* bytes = reinterpret_cast<uint8_t*>(&value);
  for (size_t i = 0; i < sizeof(T); ++i) {
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) throw Error(fmt::format("KVM state: field '{}' is not lower-case hex", field));
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
}

}  // namespace

void to_json(nlohmann::json& j, const VcpuState& s) {
  nlohmann::json msrs = nlohmann::json::array();
  for (const auto& m : s.msrs) msrs.push_back({{"index", m.index}, {"data", m.data}});
  j = {{"regs", hex_of(s.regs)},           {"sregs", hex_of(s.sregs)},   {"xsave", hex_of(s.xsave)},
       {"xcrs", hex_of(s.xcrs)},           {"debugregs", hex_of(s.debugregs)}, {"lapic", hex_of(s.lapic)},
       {"mp_state", hex_of(s.mp_state)},   {"events", hex_of(s.events)}, {"msrs", std::move(msrs)}};
}

void from_json(const nlohmann::json& j, VcpuState& s) {
  read_hex(j, "regs", s.regs);
  read_hex(j, "sregs", s.sregs);
  read_hex(j, "xsave", s.xsave);
  read_hex(j, "xcrs", s.xcrs);
  read_hex(j, "debugregs", s.debugregs);
  read_hex(j, "lapic", s.lapic);
  read_hex(j, "mp_state", s.mp_state);
  read_hex(j, "events", s.events);
  const auto msrs = j.find("msrs");
  if (msrs == j.end() || !msrs->is_array()) throw Error("KVM state: field 'msrs' is missing");
  s.msrs.clear();
  for (const auto& m : *msrs) {
    if (!m.is_object() || !m.contains("index") || !m.contains("data") || !m["index"].is_number_unsigned() ||
        !m["data"].is_number_unsigned()) {
      throw Error("KVM state: an entry of 'msrs' is not {index, data}");
    }
    kvm_msr_entry e{};
    e.index = m["index"].get<uint32_t>();
    e.data = m["data"].get<uint64_t>();
    s.msrs.push_back(e);
  }
}

void to_json(nlohmann::json& j, const KvmVmState& s) {
  j = {{"clock", hex_of(s.clock)},
       {"pic_master", hex_of(s.pic_master)},
       {"pic_slave", hex_of(s.pic_slave)},
       {"ioapic", hex_of(s.ioapic)},
       {"pit", hex_of(s.pit)}};
}

void from_json(const nlohmann::json& j, KvmVmState& s) {
  read_hex(j, "clock", s.clock);
  read_hex(j, "pic_master", s.pic_master);
  read_hex(j, "pic_slave", s.pic_slave);
  read_hex(j, "ioapic", s.ioapic);
  read_hex(j, "pit", s.pit);
}

}  // namespace hearth::arch
