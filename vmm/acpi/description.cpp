#include "vmm/acpi/description.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {
constexpr uint64_t k4GiB = uint64_t{1} << 32;
constexpr uint32_t kMaxVcpus = 254;        // xAPIC ids, 0xff being broadcast
constexpr size_t kMaxVirtioDevices = 1000;  // device names V000..V999
constexpr uint32_t kMaxIsaIrq = 15;
}  // namespace

void validate(const Description& desc) {
  if (desc.vcpu_count == 0 || desc.vcpu_count > kMaxVcpus) {
    throw Error(fmt::format("ACPI: vcpu_count {} is outside 1..{}", desc.vcpu_count, kMaxVcpus));
  }
  if (desc.lapic_addr >= k4GiB) throw Error(fmt::format("ACPI: lapic_addr {:#x} is above 4 GiB", desc.lapic_addr));
  if (desc.ioapic_addr >= k4GiB) throw Error(fmt::format("ACPI: ioapic_addr {:#x} is above 4 GiB", desc.ioapic_addr));
  if (desc.serial_irq > kMaxIsaIrq) throw Error(fmt::format("ACPI: serial_irq {} is not an ISA irq (0..15)", desc.serial_irq));
  if (desc.serial_port > 0xFFFF - 7) throw Error(fmt::format("ACPI: serial_port {:#x} leaves no room for 8 ports", desc.serial_port));
  if (desc.i8042 && desc.i8042->irq > kMaxIsaIrq) {
    throw Error(fmt::format("ACPI: i8042 irq {} is not an ISA irq (0..15)", desc.i8042->irq));
  }
  if (desc.virtio_devices.size() > kMaxVirtioDevices) {
    throw Error(fmt::format("ACPI: {} virtio devices, at most {}", desc.virtio_devices.size(), kMaxVirtioDevices));
  }
  for (size_t i = 0; i < desc.virtio_devices.size(); ++i) {
    const VirtioMmioDevice& d = desc.virtio_devices[i];
    if (d.size == 0 || d.base >= k4GiB || d.size > k4GiB - d.base) {
      throw Error(fmt::format("ACPI: virtio device {} window {:#x}+{:#x} is empty or not below 4 GiB", i, d.base, d.size));
    }
  }
}

}  // namespace hearth::acpi
