#pragma once
// Dispatches PIO or MMIO exits to the device that owns the address range.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

namespace hearth {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // `offset` is relative to the device's base; data.size() is the access width (1, 2, 4 or 8).
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}
  // Throws Error when the range is empty, wraps or overlaps an existing one.
  void insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len);
  // False when no device owns the whole access; reads then leave `data` filled with 0xff.
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

 private:
  struct Entry {
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // Returns the entry and offset owning [addr, addr+size), or nullptr.
  const Entry* find(uint64_t addr, uint64_t size, uint64_t& offset) const;

  std::string name_;
  std::map<uint64_t, Entry> ranges_;  // keyed by base; immutable once vCPUs run
};

}  // namespace hearth
