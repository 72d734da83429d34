#include "vmm/acpi/dsdt.h"

#include <fmt/format.h>

#include "vmm/acpi/aml.h"
#include "vmm/acpi/resource.h"
#include "vmm/acpi/sdt.h"

namespace hearth::acpi {
namespace {

// Integers are 64-bit for DSDT revision >= 2.
constexpr uint8_t kDsdtRevision = 6;
constexpr uint64_t kStaPresentEnabledShownFunctioning = 0x0F;

Bytes serial_device(const Description& desc) {
  return aml::device("COM1", {
      aml::name("_HID", aml::eisa_id("PNP0501")),
      aml::name("_UID", aml::integer(0)),
      aml::name("_CRS", res::resource_template({
          res::io_port(desc.serial_port, desc.serial_port, 1, 8),
          res::irq_no_flags(static_cast<uint8_t>(desc.serial_irq)),
      })),
  });
}

Bytes i8042_device(const I8042Device& dev) {
  return aml::device("PS2_", {
      aml::name("_HID", aml::eisa_id("PNP0303")),
      aml::method("_STA", 0, false, {aml::return_value(aml::integer(kStaPresentEnabledShownFunctioning))}),
      aml::name("_CRS", res::resource_template({
          res::io_port(dev.data_port, dev.data_port, 1, 1),
          res::io_port(dev.command_port, dev.command_port, 1, 1),
          res::irq_no_flags(static_cast<uint8_t>(dev.irq)),
      })),
  });
}

Bytes virtio_device(size_t index, const VirtioMmioDevice& dev) {
  // Linux's virtio_mmio driver binds LNRO0005 through its ACPI match table.
  return aml::device(fmt::format("V{:03}", index), {
      aml::name("_HID", aml::string("LNRO0005")),
      aml::name("_UID", aml::integer(index)),
      aml::name("_CCA", aml::integer(1)),  // DMA is cache-coherent
      aml::name("_CRS", res::resource_template({
          res::memory32_fixed(true, static_cast<uint32_t>(dev.base), static_cast<uint32_t>(dev.size)),
          res::extended_interrupt(dev.irq, {.edge = true, .active_low = false, .shared = false}),
      })),
  });
}

}  // namespace

Bytes build_dsdt_aml(const Description& desc) {
  validate(desc);
  std::vector<Bytes> devices;
  devices.push_back(serial_device(desc));
  if (desc.i8042) devices.push_back(i8042_device(*desc.i8042));
  for (size_t i = 0; i < desc.virtio_devices.size(); ++i) devices.push_back(virtio_device(i, desc.virtio_devices[i]));
  return aml::scope("\\_SB_", devices);
}

Bytes build_dsdt(const Description& desc) {
  Bytes out = sdt_header("DSDT", kDsdtRevision, "HRTHDSDT");
  append(out, build_dsdt_aml(desc));
  sdt_finish(out);
  return out;
}

}  // namespace hearth::acpi
