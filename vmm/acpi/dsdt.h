#pragma once
// The DSDT: the devices Linux cannot find by probing (no PCI here): COM1, the optional i8042,
// and one LNRO0005 virtio-mmio device per window, all under \_SB.
#include "vmm/acpi/bytes.h"
#include "vmm/acpi/description.h"

namespace hearth::acpi {

// The AML body (everything after the table header). Calls validate(desc).
Bytes build_dsdt_aml(const Description& desc);
// The whole table, header and checksum included.
Bytes build_dsdt(const Description& desc);

}  // namespace hearth::acpi
