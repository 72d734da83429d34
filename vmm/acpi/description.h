#pragma once
// What the guest should learn from the ACPI tables. Filled by the VMM from vmm/arch/layout.h.
#include <cstdint>
#include <optional>
#include <vector>

namespace hearth::acpi {

struct VirtioMmioDevice {
  uint64_t base;
  uint64_t size;
  uint32_t irq;
};

// The PS/2 controller. Linux only drives an i8042 that the DSDT lists (PNP0303) when the FADT
// does not claim a legacy 8042, and Hearth's FADT does not.
struct I8042Device {
  uint16_t data_port;
  uint16_t command_port;
  uint32_t irq;
};

struct Description {
  uint32_t vcpu_count = 1;
  uint64_t lapic_addr = 0;
  uint64_t ioapic_addr = 0;
  uint16_t serial_port = 0;
  uint32_t serial_irq = 0;
  std::vector<VirtioMmioDevice> virtio_devices;
  std::optional<I8042Device> i8042;  // absent: no PNP0303 device
};

// Throws Error naming the first field the tables cannot express.
void validate(const Description& desc);

}  // namespace hearth::acpi
