#include "api/cpu_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth::api {
namespace {

// A template file is a few KiB; this only stops a mistaken path to something huge.
constexpr size_t kMaxTemplateFileBytes = 1 << 20;

const nlohmann::json& array_field(const ObjectReader& r, std::string_view key, bool required) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json* v = r.get(key);
  if (v == nullptr) {
    if (required) r.required(key);
    return kEmpty;
  }
  if (!v->is_array()) throw_type_error(r.path(key), "an array", *v);
  return *v;
}

// Firecracker's numbers in templates: a string with a 0x (hex) or 0b (binary) prefix.
uint64_t prefixed_number(const ObjectReader& r, std::string_view key, uint64_t max) {
  const nlohmann::json& v = r.required(key);
  if (!v.is_string()) throw_type_error(r.path(key), "a string such as \"0x1\"", v);
  const std::string s = v.get<std::string>();
  const bool hex = s.starts_with("0x") || s.starts_with("0X");
  const bool bin = s.starts_with("0b") || s.starts_with("0B");
  auto bad = [&] {
    r.fail(key, fmt::format("must be a hex (\"0x...\") or binary (\"0b...\") number of at most {:#x}, got \"{}\"",
                            max, s));
  };
  if ((!hex && !bin) || s.size() == 2) bad();
  const uint64_t base = hex ? 16 : 2;
  uint64_t n = 0;
  for (char c : std::string_view(s).substr(2)) {
    uint64_t d = 0;
    if (c >= '0' && c <= '9') d = uint64_t(c - '0');
    else if (c >= 'a' && c <= 'f') d = uint64_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = uint64_t(c - 'A' + 10);
    else bad();
    if (d >= base || n > (max - d) / base) bad();
    n = n * base + d;
  }
  return n;
}

// "0b" (optional, as in Firecracker) then up to Bits of 0, 1 or x, most significant first; '_' separates.
// Missing high digits are x (left alone).
template <typename T>
BitFilter<T> parse_bitmap(const ObjectReader& r, std::string_view key) {
  constexpr unsigned kBits = std::numeric_limits<T>::digits;
  const nlohmann::json& v = r.required(key);
  if (!v.is_string()) throw_type_error(r.path(key), "a string such as \"0bxxxx1x0\"", v);
  const std::string s = v.get<std::string>();
  std::string_view digits = s;
  if (digits.starts_with("0b")) digits.remove_prefix(2);
  BitFilter<T> f;
  unsigned bit = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it == '_') continue;
    if (*it != '0' && *it != '1' && *it != 'x') {
      r.fail(key, fmt::format("must be 0b followed by {} of 0, 1 or x, got \"{}\" (bad character '{}')", kBits, s,
                              *it));
    }
    if (bit == kBits) {
      r.fail(key, fmt::format("must be 0b followed by {} of 0, 1 or x, got \"{}\" (too long)", kBits, s));
    }
    if (*it != 'x') {
      f.mask |= T{1} << bit;
      if (*it == '1') f.value |= T{1} << bit;
    }
    ++bit;
  }
  return f;
}

CpuidRegister parse_register(const ObjectReader& r) {
  const std::string name = r.string("register");
  for (CpuidRegister reg : {CpuidRegister::kEax, CpuidRegister::kEbx, CpuidRegister::kEcx, CpuidRegister::kEdx}) {
    if (name == cpuid_register_name(reg)) return reg;
  }
  r.fail("register", fmt::format("must be one of \"eax\", \"ebx\", \"ecx\", \"edx\", got \"{}\"", name));
}

// Sections that mean something only on aarch64 (or that Hearth does not implement): accepted when empty.
void refuse_nonempty(const ObjectReader& r, std::string_view key, std::string_view why) {
  if (!array_field(r, key, false).empty()) r.fail(key, why);
}

template <typename T>
std::string bitmap_string(const BitFilter<T>& f) {
  constexpr unsigned kBits = std::numeric_limits<T>::digits;
  std::string s = "0b";
  for (unsigned i = kBits; i-- > 0;) {
    const T bit = T{1} << i;
    s += (f.mask & bit) ? ((f.value & bit) ? '1' : '0') : 'x';
  }
  return s;
}

}  // namespace

CustomCpuTemplate parse_cpu_config(const nlohmann::json& j, std::string_view context) {
  ObjectReader r(j, std::string(context),
                 {"cpuid_modifiers", "msr_modifiers", "kvm_capabilities", "reg_modifiers", "vcpu_features"});
  refuse_nonempty(r, "kvm_capabilities", "KVM capability changes are not supported by Hearth");
  refuse_nonempty(r, "reg_modifiers", "register modifiers are for aarch64; this host is x86_64");
  refuse_nonempty(r, "vcpu_features", "vCPU features are for aarch64; this host is x86_64");
  CustomCpuTemplate t;
  const nlohmann::json& leaves = array_field(r, "cpuid_modifiers", false);
  for (size_t i = 0; i < leaves.size(); ++i) {
    ObjectReader lr(leaves[i], fmt::format("{}[{}]", r.path("cpuid_modifiers"), i),
                    {"leaf", "subleaf", "flags", "modifiers"});
    CpuidLeafModifier leaf;
    leaf.leaf = uint32_t(prefixed_number(lr, "leaf", UINT32_MAX));
    leaf.subleaf = uint32_t(prefixed_number(lr, "subleaf", UINT32_MAX));
    lr.required("flags");
    leaf.flags = uint32_t(lr.unsigned_int("flags", 0, UINT32_MAX));
    const nlohmann::json& mods = array_field(lr, "modifiers", true);
    for (size_t k = 0; k < mods.size(); ++k) {
      ObjectReader mr(mods[k], fmt::format("{}[{}]", lr.path("modifiers"), k), {"register", "bitmap"});
      CpuidRegisterModifier m;
      m.reg = parse_register(mr);
      m.bitmap = parse_bitmap<uint32_t>(mr, "bitmap");
      leaf.modifiers.push_back(m);
    }
    t.cpuid_modifiers.push_back(std::move(leaf));
  }
  const nlohmann::json& msrs = array_field(r, "msr_modifiers", false);
  for (size_t i = 0; i < msrs.size(); ++i) {
    ObjectReader mr(msrs[i], fmt::format("{}[{}]", r.path("msr_modifiers"), i), {"addr", "bitmap"});
    MsrModifier m;
    m.addr = uint32_t(prefixed_number(mr, "addr", UINT32_MAX));
    m.bitmap = parse_bitmap<uint64_t>(mr, "bitmap");
    t.msr_modifiers.push_back(m);
  }
  return t;
}

CustomCpuTemplate parse_cpu_config_section(const nlohmann::json& j, std::string_view context) {
  if (!j.is_string()) return parse_cpu_config(j, context);
  const std::string path = j.get<std::string>();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open \"{}\": {}", context, path, std::strerror(errno)));
  std::string text;
  text.resize(kMaxTemplateFileBytes + 1);
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  if (text.size() > kMaxTemplateFileBytes) {
    throw Error(fmt::format("{}: \"{}\" is larger than {} bytes", context, path, kMaxTemplateFileBytes));
  }
  const std::string where = fmt::format("{} (\"{}\")", context, path);
  return parse_cpu_config(parse_json(text, where), where);
}

nlohmann::json to_json(const CustomCpuTemplate& t) {
  nlohmann::json leaves = nlohmann::json::array();
  for (const CpuidLeafModifier& l : t.cpuid_modifiers) {
    nlohmann::json mods = nlohmann::json::array();
    for (const CpuidRegisterModifier& m : l.modifiers) {
      mods.push_back({{"register", cpuid_register_name(m.reg)}, {"bitmap", bitmap_string(m.bitmap)}});
    }
    leaves.push_back({{"leaf", fmt::format("{:#x}", l.leaf)},
                      {"subleaf", fmt::format("{:#x}", l.subleaf)},
                      {"flags", l.flags},
                      {"modifiers", std::move(mods)}});
  }
  nlohmann::json msrs = nlohmann::json::array();
  for (const MsrModifier& m : t.msr_modifiers) {
    msrs.push_back({{"addr", fmt::format("{:#x}", m.addr)}, {"bitmap", bitmap_string(m.bitmap)}});
  }
  return {{"cpuid_modifiers", std::move(leaves)}, {"msr_modifiers", std::move(msrs)}};
}

StaticCpuTemplate parse_static_template(const nlohmann::json& v, std::string_view where, CpuVendor host) {
  if (!v.is_string()) throw_type_error(where, "a string", v);
  const std::string name = v.get<std::string>();
  if (name == "V1N1") throw Error(fmt::format("{}: \"V1N1\" is an aarch64 template; this host is x86_64", where));
  const auto t = static_template_from_name(name);
  if (!t) {
    throw Error(fmt::format("{}: must be one of \"None\", \"C3\", \"T2\", \"T2S\", \"T2CL\", \"T2A\", got \"{}\"",
                            where, name));
  }
  if (*t != StaticCpuTemplate::kNone && template_vendor(*t) != host) {
    throw Error(fmt::format("{}: \"{}\" is a template for {} CPUs; this host's CPU is {}", where, name,
                            vendor_name(template_vendor(*t)), vendor_name(host)));
  }
  return *t;
}

}  // namespace hearth::api
