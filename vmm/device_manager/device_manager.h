#pragma once
// Owns every device of one microVM and everything that places a device in the machine: MMIO
// windows and IRQs (one allocator, one limit over all virtio kinds), bus registration, irqfds and
// queue ioeventfds, the DSDT entries and kernel command-line parts, and, over all devices in a
// stable order, save/restore and metrics export. Adding a device kind needs no change here.
#include <memory>
#include <string>
#include <vector>

#include "devices/bus.h"
#include "devices/irq.h"
#include "devices/model/device.h"
#include "vmm/acpi/description.h"
#include "vmm/base/event_loop.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/metrics/registry.h"

namespace hearth {
namespace virtio {
class VirtioDevice;
}
namespace virtio::mmio {
class MmioTransport;
}

class DeviceManager {
 public:
  DeviceManager(const kvm::Vm& vm, const GuestMemory& memory, Bus& mmio_bus, EventLoop& loop);
  ~DeviceManager();
  DeviceManager(const DeviceManager&) = delete;
  DeviceManager& operator=(const DeviceManager&) = delete;

  // A level-free IRQ line on `gsi` backed by an irqfd, kept alive for the VM's life.
  std::shared_ptr<IrqLine> irq_line(uint32_t gsi);

  // A legacy device already placed on its bus by its owner: saved, restored and reported here.
  void add_legacy(std::shared_ptr<Device> device, std::string metrics_prefix = {});

  // Puts `device` behind a virtio-mmio transport in the next free window with the next IRQ, and
  // announces it (DSDT and virtio_mmio.device=). Throws Error once kMaxVirtioDevices are placed.
  // `device` must implement both VirtioDevice and Device.
  template <typename T>
  void add_virtio(const std::shared_ptr<T>& device, std::string metrics_prefix) {
    add_virtio(device, device, std::move(metrics_prefix));
  }
  // The same device seen through both interfaces.
  void add_virtio(std::shared_ptr<virtio::VirtioDevice> virtio, std::shared_ptr<Device> model,
                  std::string metrics_prefix);

  const std::vector<acpi::VirtioMmioDevice>& virtio_windows() const { return windows_; }
  std::vector<std::string> cmdline_parts() const;
  size_t virtio_count() const { return virtio_.size(); }

  // Every device's state (and each virtio transport's, as kind "virtio-mmio"), in placement order.
  // Needs paused vCPUs. Throws Error naming a device that cannot be saved.
  std::vector<DeviceState> save_all() const;
  // Restores a save_all() of a VM built from the same configuration; throws Error naming the first
  // device that is missing, extra, or whose state is refused.
  void restore_all(const std::vector<DeviceState>& states);

  void export_metrics(metrics::Registry& registry) const;

 private:
  struct Placed {
    std::shared_ptr<Device> device;
    std::string metrics_prefix;
    std::shared_ptr<virtio::mmio::MmioTransport> transport;  // null for legacy devices
  };

  const kvm::Vm& vm_;
  const GuestMemory& memory_;
  Bus& mmio_bus_;
  EventLoop& loop_;
  std::vector<std::shared_ptr<IrqLine>> irq_lines_;
  std::vector<Placed> devices_;  // placement order = save order
  std::vector<std::shared_ptr<virtio::mmio::MmioTransport>> virtio_;
  std::vector<acpi::VirtioMmioDevice> windows_;
};

}  // namespace hearth
