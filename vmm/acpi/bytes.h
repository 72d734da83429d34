#pragma once
// Little-endian byte assembly shared by the AML encoder and the table builders.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hearth::acpi {

using Bytes = std::vector<uint8_t>;

inline void put_u8(Bytes& out, uint8_t v) { out.push_back(v); }
inline void put_u16(Bytes& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void put_u32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void put_u64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void append(Bytes& out, std::span<const uint8_t> in) { out.insert(out.end(), in.begin(), in.end()); }

// Overwrites in place; used to patch fields of fixed-layout tables.
inline void poke_u16(Bytes& out, size_t off, uint16_t v) {
  for (size_t i = 0; i < 2; ++i) out.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline void poke_u32(Bytes& out, size_t off, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) out.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline void poke_u64(Bytes& out, size_t off, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) out.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}

// The byte that makes `data` plus itself sum to zero (mod 256), as every ACPI checksum requires.
inline uint8_t checksum(std::span<const uint8_t> data) {
  uint8_t sum = 0;
  for (uint8_t b : data) sum = static_cast<uint8_t>(sum + b);
  return static_cast<uint8_t>(-sum);
}

}  // namespace hearth::acpi
