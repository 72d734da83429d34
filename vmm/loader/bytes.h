#pragma once
// Bounds-checked little-endian reads from an untrusted byte buffer (kernel images are hostile input).
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace hearth::loader {

static_assert(std::endian::native == std::endian::little, "the loader reads x86 images on an x86 host");

// True when [offset, offset + len) lies inside a buffer of `size` bytes, without overflowing.
constexpr bool in_bounds(uint64_t size, uint64_t offset, uint64_t len) {
  return offset <= size && len <= size - offset;
}

// The T stored at `offset`, or nullopt when it does not fit inside `bytes`.
template <typename T>
std::optional<T> read_le(std::span<const uint8_t> bytes, uint64_t offset) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!in_bounds(bytes.size(), offset, sizeof(T))) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

constexpr uint64_t align_down(uint64_t value, uint64_t align) { return value & ~(align - 1); }

// Rounds up to a power-of-two `align`; nullopt when the result would pass 2^64.
constexpr std::optional<uint64_t> align_up(uint64_t value, uint64_t align) {
  const uint64_t mask = align - 1;
  if (value > UINT64_MAX - mask) return std::nullopt;
  return (value + mask) & ~mask;
}

}  // namespace hearth::loader
