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

// The fixed-size KVM structs of each state, named as they appear in JSON; one list serves both directions.
template <typename S, typename F>
void each_vcpu_struct(S& s, F&& f) {
  f("regs", s.regs);
  f("sregs", s.sregs);
  f("xsave", s.xsave);
  f("xcrs", s.xcrs);
  f("debugregs", s.debugregs);
  f("lapic", s.lapic);
  f("mp_state", s.mp_state);
  f("events", s.events);
}

template <typename S, typename F>
void each_vm_struct(S& s, F&& f) {
  f("clock", s.clock);
  f("pic_master", s.pic_master);
  f("pic_slave", s.pic_slave);
  f("ioapic", s.ioapic);
  f("pit", s.pit);
}

}  // namespace

void to_json(nlohmann::json& j, const VcpuState& s) {
  j = nlohmann::json::object();
  each_vcpu_struct(s, [&](const char* name, const auto& value) { j[name] = hex_of(value); });
  nlohmann::json msrs = nlohmann::json::array();
  for (const auto& m : s.msrs) msrs.push_back({{"index", m.index}, {"data", m.data}});
  j["msrs"] = std::move(msrs);
}

void from_json(const nlohmann::json& j, VcpuState& s) {
  each_vcpu_struct(s, [&](const char* name, auto& value) { read_hex(j, name, value); });
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
  j = nlohmann::json::object();
  each_vm_struct(s, [&](const char* name, const auto& value) { j[name] = hex_of(value); });
}

void from_json(const nlohmann::json& j, KvmVmState& s) {
  each_vm_struct(s, [&](const char* name, auto& value) { read_hex(j, name, value); });
}

}  // namespace hearth::arch
