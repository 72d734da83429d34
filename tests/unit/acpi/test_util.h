#pragma once
// Helpers for reading table bytes back in the ACPI tests.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "vmm/acpi/bytes.h"
#include "vmm/acpi/description.h"

namespace hearth::acpi::test {

// A machine like Hearth's: LAPIC, IOAPIC, COM1, `virtio_count` virtio-mmio windows from IRQ 5.
inline Description sample_description(size_t virtio_count, uint32_t vcpus = 2, bool with_i8042 = true) {
  Description d;
  d.vcpu_count = vcpus;
  d.lapic_addr = 0xFEE00000;
  d.ioapic_addr = 0xFEC00000;
  d.serial_port = 0x3F8;
  d.serial_irq = 4;
  for (size_t i = 0; i < virtio_count; ++i) {
    d.virtio_devices.push_back({0xD0001000 + i * 0x1000, 0x1000, static_cast<uint32_t>(5 + i)});
  }
  if (with_i8042) d.i8042 = I8042Device{0x60, 0x64, 1};
  return d;
}

inline uint8_t sum8(std::span<const uint8_t> data) {
  uint8_t s = 0;
  for (uint8_t b : data) s = static_cast<uint8_t>(s + b);
  return s;
}

inline uint64_t le(std::span<const uint8_t> data, size_t off, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{data[off + i]} << (8 * i);
  return v;
}
inline uint16_t le16(std::span<const uint8_t> d, size_t off) { return static_cast<uint16_t>(le(d, off, 2)); }
inline uint32_t le32(std::span<const uint8_t> d, size_t off) { return static_cast<uint32_t>(le(d, off, 4)); }
inline uint64_t le64(std::span<const uint8_t> d, size_t off) { return le(d, off, 8); }

inline std::string_view chars(std::span<const uint8_t> d, size_t off, size_t len) {
  return {reinterpret_cast<const char*>(d.data()) + off, len};
}

inline constexpr size_t npos = std::string_view::npos;

// Offset of `needle` in `hay`, or npos.
inline size_t find(std::span<const uint8_t> hay, std::span<const uint8_t> needle, size_t from = 0) {
  if (from > hay.size()) return std::string_view::npos;
  auto it = std::search(hay.begin() + static_cast<std::ptrdiff_t>(from), hay.end(), needle.begin(), needle.end());
  return it == hay.end() ? std::string_view::npos : static_cast<size_t>(it - hay.begin());
}
inline size_t find(std::span<const uint8_t> hay, std::string_view needle, size_t from = 0) {
  return find(hay, std::span(reinterpret_cast<const uint8_t*>(needle.data()), needle.size()), from);
}

// Decodes the PkgLength at `off`: {value, bytes used}. Written from the spec, independently of
// the encoder, so the tests cross-check it.
struct PkgLen {
  size_t value;
  size_t size;
};
inline PkgLen decode_pkg_length(std::span<const uint8_t> d, size_t off) {
  size_t extra = d[off] >> 6;
  if (extra == 0) return {size_t{d[off]} & 0x3F, 1};
  size_t v = d[off] & 0x0F;
  for (size_t i = 0; i < extra; ++i) v |= size_t{d[off + 1 + i]} << (4 + 8 * i);
  return {v, extra + 1};
}

}  // namespace hearth::acpi::test
