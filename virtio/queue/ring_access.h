#pragma once
// Ring indices shared with the guest: loads with acquire and stores with release ordering, so
// the data the driver wrote before bumping avail idx is visible, and ours is before used idx.
#include <atomic>
#include <cstdint>
#include <optional>

#include "vmm/memory/guest_memory.h"

namespace hearth::virtio {

template <typename T>
std::optional<T> load_acquire(const GuestMemory& mem, uint64_t addr) {
  static_assert(std::is_integral_v<T>);
  if (addr % sizeof(T)) return std::nullopt;  // a misaligned atomic is not atomic
  auto s = mem.view(addr, sizeof(T));  // read-only: must not mark the page dirty
  if (!s) return std::nullopt;
  // atomic_ref needs a non-const T; the mapping is writable, only the view is const.
  return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(s->data()))).load(std::memory_order_acquire);
}

template <typename T>
bool store_release(const GuestMemory& mem, uint64_t addr, T value) {
  static_assert(std::is_integral_v<T>);
  if (addr % sizeof(T)) return false;
  auto s = mem.slice(addr, sizeof(T));
  if (!s) return false;
  std::atomic_ref<T>(*reinterpret_cast<T*>(s->data())).store(value, std::memory_order_release);
  mem.mark_dirty(addr, sizeof(T));  // again after the store: a dirty-bitmap take may have run in between
  return true;
}

}  // namespace hearth::virtio
