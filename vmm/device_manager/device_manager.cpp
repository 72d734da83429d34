#include "vmm/device_manager/device_manager.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "virtio/device.h"
#include "virtio/mmio/state.h"
#include "virtio/mmio/transport.h"
#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/config/limits.h"
#include "vmm/core/irqfd_line.h"

namespace hearth {
namespace {

constexpr const char* kTransportKind = "virtio-mmio";
constexpr uint32_t kTransportStateVersion = 1;

std::string describe(const Device& d) {
  const std::string id = d.id();
  return id.empty() ? std::string(d.kind()) : fmt::format("{} '{}'", d.kind(), id);
}

}  // namespace

DeviceManager::DeviceManager(const kvm::Vm& vm, const GuestMemory& memory, Bus& mmio_bus, EventLoop& loop)
    : vm_(vm), memory_(memory), mmio_bus_(mmio_bus), loop_(loop) {}

DeviceManager::~DeviceManager() = default;

std::shared_ptr<IrqLine> DeviceManager::irq_line(uint32_t gsi) {
  auto line = std::make_shared<IrqFdLine>(vm_, gsi);
  irq_lines_.push_back(line);
  return line;
}

void DeviceManager::add_legacy(std::shared_ptr<Device> device, std::string metrics_prefix) {
  devices_.push_back({std::move(device), std::move(metrics_prefix), nullptr});
}

void DeviceManager::add_virtio(std::shared_ptr<virtio::VirtioDevice> virtio, std::shared_ptr<Device> model,
                               std::string metrics_prefix) {
  static_assert(kMaxVirtioDevices <= layout::kVirtioMmioMaxDevices);
  static_assert(layout::kVirtioIrqFirst + kMaxVirtioDevices <= layout::kIoapicPins);
  const auto index = static_cast<uint32_t>(virtio_.size());
  if (index >= kMaxVirtioDevices) {
    throw Error(fmt::format("{}: at most {} virtio devices (drives, entropy, ...) are supported", describe(*model),
                            kMaxVirtioDevices));
  }
  const uint64_t base = layout::kVirtioMmioBase + uint64_t{index} * layout::kMmioWindowSize;
  const uint32_t irq = layout::kVirtioIrqFirst + index;
  auto transport = std::make_shared<virtio::mmio::MmioTransport>(virtio, memory_, irq_line(irq), &loop_);
  mmio_bus_.insert(transport, base, layout::kMmioWindowSize);
  // Kicks never exit to userspace on a vCPU thread: KVM signals the queue's eventfd directly.
  for (uint16_t q = 0; q < transport->num_queues(); ++q) {
    vm_.register_ioeventfd(transport->queue_event(q).fd(), base + virtio::mmio::MmioTransport::kNotifyOffset, 4, q);
  }
  virtio_.push_back(transport);
  windows_.push_back({base, layout::kMmioWindowSize, irq});
  devices_.push_back({std::move(model), std::move(metrics_prefix), transport});
}

std::vector<std::string> DeviceManager::cmdline_parts() const {
  std::vector<std::string> parts;
  for (const auto& w : windows_) parts.push_back(fmt::format("virtio_mmio.device=4K@{:#x}:{}", w.base, w.irq));
  return parts;
}

std::vector<DeviceState> DeviceManager::save_all() const {
  std::vector<DeviceState> states;
  for (const auto& placed : devices_) {
    try {
      states.push_back(placed.device->save());
      if (placed.transport) {
        states.push_back(DeviceState{kTransportKind, describe(*placed.device), kTransportStateVersion,
                                     placed.transport->save()});
      }
    } catch (const Error& e) {
      throw Error(fmt::format("cannot save {}: {}", describe(*placed.device), e.what()));
    }
  }
  return states;
}

void DeviceManager::restore_all(const std::vector<DeviceState>& states) {
  size_t next = 0;
  auto take = [&](std::string_view kind, const std::string& id) -> const DeviceState& {
    if (next >= states.size()) throw Error(fmt::format("saved state has no entry for {} '{}'", kind, id));
    const DeviceState& s = states[next++];
    if (s.kind != kind || s.id != id) {
      throw Error(fmt::format("saved state has {} '{}' where this microVM has {} '{}'", s.kind, s.id, kind, id));
    }
    return s;
  };
  for (const auto& placed : devices_) {
    const DeviceState& own = take(placed.device->kind(), placed.device->id());
    placed.device->restore(own);
    if (!placed.transport) continue;
    const DeviceState& t = take(kTransportKind, describe(*placed.device));
    check_state_header(t, kTransportKind, kTransportStateVersion);
    try {
      placed.transport->restore(t.data.get<virtio::mmio::TransportState>());
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: malformed virtio-mmio state: {}", describe(*placed.device), e.what()));
    }
  }
  if (next != states.size()) {
    throw Error(fmt::format("saved state has {} more device(s) than this microVM, starting with {} '{}'",
                            states.size() - next, states[next].kind, states[next].id));
  }
}

void DeviceManager::export_metrics(metrics::Registry& registry) const {
  for (const auto& placed : devices_) {
    if (!placed.metrics_prefix.empty()) placed.device->export_metrics(registry, placed.metrics_prefix);
  }
}

}  // namespace hearth
