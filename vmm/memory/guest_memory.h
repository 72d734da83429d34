#pragma once
// Guest physical memory: a few host mappings, each at a guest address.
// Every access is bounds-checked; guest-supplied addresses are hostile input.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "vmm/base/mapping.h"

namespace hearth {

struct GuestRange {
  uint64_t start = 0;
  uint64_t size = 0;
  uint64_t end() const { return start + size; }
};

class GuestMemory {
 public:
  struct Region {
    GuestRange range;
    Mapping mapping;
  };

  // Maps one anonymous region per range. Ranges must be page-aligned, non-empty and disjoint.
  static GuestMemory create_anonymous(const std::vector<GuestRange>& ranges);

  const std::vector<Region>& regions() const { return regions_; }
  uint64_t total_size() const;

  // True when [addr, addr+len) lies inside one region (no overflow, len 0 allowed at a valid addr).
  bool contains(uint64_t addr, uint64_t len) const;

  // Host view of [addr, addr+len) when it lies inside one region; nullopt otherwise.
  std::optional<std::span<uint8_t>> slice(uint64_t addr, uint64_t len) const;

  // Non-throwing access for device code: false when out of range.
  bool try_read(uint64_t addr, std::span<uint8_t> out) const;
  bool try_write(uint64_t addr, std::span<const uint8_t> in) const;

  // Throwing access for the loader and builder: Error names the address.
  void read(uint64_t addr, std::span<uint8_t> out) const;
  void write(uint64_t addr, std::span<const uint8_t> in) const;

  template <typename T>
  std::optional<T> try_read_obj(uint64_t addr) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!try_read(addr, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T)))) return std::nullopt;
    return value;
  }
  template <typename T>
  bool try_write_obj(uint64_t addr, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return try_write(addr, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  template <typename T>
  T read_obj(uint64_t addr) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    read(addr, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    return value;
  }
  template <typename T>
  void write_obj(uint64_t addr, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    write(addr, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

 private:
  std::vector<Region> regions_;
};

}  // namespace hearth
