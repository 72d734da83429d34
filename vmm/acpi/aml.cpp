#include "vmm/acpi/aml.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::acpi::aml {
namespace {

// Opcodes from the ACPI spec, section 20 (AML encoding).
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0A;
constexpr uint8_t kWordPrefix = 0x0B;
constexpr uint8_t kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D;
constexpr uint8_t kQWordPrefix = 0x0E;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2E;
constexpr uint8_t kMultiNamePrefix = 0x2F;
constexpr uint8_t kExtOpPrefix = 0x5B;
constexpr uint8_t kDeviceOp = 0x82;  // after kExtOpPrefix
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kParentPrefix = '^';
constexpr uint8_t kReturnOp = 0xA4;

constexpr size_t kMaxPkgLength = (size_t{1} << 28) - 1;  // 4 + 8 + 8 + 8 bits

bool is_lead_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_lead_char(c) || (c >= '0' && c <= '9'); }

void put_name_seg(Bytes& out, std::string_view seg, std::string_view path) {
  if (seg.empty() || seg.size() > 4 || !is_lead_char(seg[0])) {
    throw Error(fmt::format("AML: bad name segment '{}' in '{}'", seg, path));
  }
  for (char c : seg) {
    if (!is_name_char(c)) throw Error(fmt::format("AML: bad character in name '{}'", path));
    out.push_back(static_cast<uint8_t>(c));
  }
  for (size_t i = seg.size(); i < 4; ++i) out.push_back('_');
}

// op PkgLength <head> <terms...>
Bytes with_pkg_length(std::initializer_list<uint8_t> op, const Bytes& head, const std::vector<Bytes>& terms) {
  size_t body_len = head.size();
  for (const Bytes& t : terms) body_len += t.size();
  Bytes out(op);
  append(out, pkg_length(body_len));
  append(out, head);
  for (const Bytes& t : terms) append(out, t);
  return out;
}

}  // namespace

Bytes pkg_length(size_t body_len) {
  // One byte holds 0..63; longer forms hold 4 bits in the lead byte plus 8 per extra byte.
  if (body_len + 1 <= 0x3F) return {static_cast<uint8_t>(body_len + 1)};
  for (size_t extra = 1; extra <= 3; ++extra) {
    size_t total = body_len + 1 + extra;
    if (total < (size_t{1} << (4 + 8 * extra))) {
      Bytes out{static_cast<uint8_t>((extra << 6) | (total & 0x0F))};
      for (size_t i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
      return out;
    }
  }
  throw Error(fmt::format("AML: package of {} bytes exceeds the PkgLength limit of {}", body_len, kMaxPkgLength));
}

Bytes name_string(std::string_view path) {
  Bytes out;
  std::string_view rest = path;
  if (!rest.empty() && rest[0] == kRootChar) {
    out.push_back(kRootChar);
    rest.remove_prefix(1);
  } else {
    while (!rest.empty() && rest[0] == kParentPrefix) {
      out.push_back(kParentPrefix);
      rest.remove_prefix(1);
    }
  }
  std::vector<std::string_view> segs;
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    segs.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
    if (rest.empty()) throw Error(fmt::format("AML: name '{}' ends with '.'", path));
  }
  if (segs.empty()) {
    if (out.empty()) throw Error("AML: empty name");
    out.push_back(0x00);  // NullName: "\" alone names the root
    return out;
  }
  if (segs.size() > 255) throw Error(fmt::format("AML: name '{}' has too many segments", path));
  if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string_view seg : segs) put_name_seg(out, seg, path);
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  if (value <= 0xFF) return byte_const(static_cast<uint8_t>(value));
  if (value <= 0xFFFF) return word_const(static_cast<uint16_t>(value));
  if (value <= 0xFFFFFFFF) return dword_const(static_cast<uint32_t>(value));
  return qword_const(value);
}

Bytes byte_const(uint8_t value) { return {kBytePrefix, value}; }
Bytes word_const(uint16_t value) {
  Bytes out{kWordPrefix};
  put_u16(out, value);
  return out;
}
Bytes dword_const(uint32_t value) {
  Bytes out{kDWordPrefix};
  put_u32(out, value);
  return out;
}
Bytes qword_const(uint64_t value) {
  Bytes out{kQWordPrefix};
  put_u64(out, value);
  return out;
}

Bytes string(std::string_view ascii) {
  Bytes out{kStringPrefix};
  for (char c : ascii) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0 || u > 0x7F) throw Error("AML: string constant must be non-NUL ASCII");
    out.push_back(u);
  }
  out.push_back(0x00);
  return out;
}

uint32_t eisa_id_value(std::string_view id) {
  auto is_upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bool ok = id.size() == 7 && is_upper(id[0]) && is_upper(id[1]) && is_upper(id[2]);
  for (size_t i = 3; ok && i < 7; ++i) ok = hex(id[i]) >= 0;
  if (!ok) throw Error(fmt::format("AML: EISA id '{}' is not three capitals and four hex digits", id));
  // Three 5-bit letters ('A' = 1) then four nibbles, stored big-endian in the 32-bit value.
  uint32_t vendor = (static_cast<uint32_t>(id[0] - 'A' + 1) << 10) |
                    (static_cast<uint32_t>(id[1] - 'A' + 1) << 5) | static_cast<uint32_t>(id[2] - 'A' + 1);
  uint32_t product = 0;
  for (size_t i = 3; i < 7; ++i) product = (product << 4) | static_cast<uint32_t>(hex(id[i]));
  uint32_t be = (vendor << 16) | product;
  return ((be & 0xFF) << 24) | ((be & 0xFF00) << 8) | ((be >> 8) & 0xFF00) | (be >> 24);
}

Bytes eisa_id(std::string_view id) { return dword_const(eisa_id_value(id)); }

Bytes name(std::string_view path, const Bytes& value) {
  Bytes out{kNameOp};
  append(out, name_string(path));
  append(out, value);
  return out;
}

Bytes package(const std::vector<Bytes>& elements) {
  if (elements.size() > 255) throw Error(fmt::format("AML: package of {} elements exceeds 255", elements.size()));
  return with_pkg_length({kPackageOp}, Bytes{static_cast<uint8_t>(elements.size())}, elements);
}

Bytes buffer(std::span<const uint8_t> data) {
  return with_pkg_length({kBufferOp}, integer(data.size()), {Bytes(data.begin(), data.end())});
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms) {
  return with_pkg_length({kScopeOp}, name_string(path), terms);
}

Bytes device(std::string_view path, const std::vector<Bytes>& terms) {
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, name_string(path), terms);
}

Bytes method(std::string_view name, uint8_t arg_count, bool serialized, const std::vector<Bytes>& terms) {
  if (arg_count > 7) throw Error(fmt::format("AML: method {} has {} arguments, at most 7", name, arg_count));
  Bytes head = name_string(name);
  head.push_back(static_cast<uint8_t>(arg_count | (serialized ? 0x08 : 0x00)));  // SyncLevel 0
  return with_pkg_length({kMethodOp}, head, terms);
}

Bytes return_value(const Bytes& value) {
  Bytes out{kReturnOp};
  append(out, value);
  return out;
}

}  // namespace hearth::acpi::aml
