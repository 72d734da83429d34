#include "devices/bus.h"

#include <algorithm>

#include "vmm/base/error.h"

namespace hearth {

void Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len) {
  if (len == 0 || base + len < base) throw Error(fmt::format("{} bus: invalid range {:#x}+{:#x}", name_, base, len));
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + len) {
    throw Error(fmt::format("{} bus: range {:#x}+{:#x} overlaps device at {:#x}", name_, base, len, next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len > base) {
      throw Error(fmt::format("{} bus: range {:#x}+{:#x} overlaps device at {:#x}", name_, base, len, prev->first));
    }
  }
  ranges_.emplace(base, Entry{len, std::move(device)});
}

const Bus::Entry* Bus::find(uint64_t addr, uint64_t size, uint64_t& offset) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  offset = addr - it->first;
  if (offset >= it->second.len || size > it->second.len - offset) return nullptr;
  return &it->second;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t offset = 0;
  const Entry* e = find(addr, data.size(), offset);
  if (!e) {
    std::fill(data.begin(), data.end(), 0xff);
    return false;
  }
  e->device->read(offset, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t offset = 0;
  const Entry* e = find(addr, data.size(), offset);
  if (!e) return false;
  e->device->write(offset, data);
  return true;
}

}  // namespace hearth
