#pragma once
// Puts everything the guest needs in its memory before the first vCPU runs:
// kernel, initrd, command line, e820, ACPI tables, zero page or PVH start info, GDT and page tables.
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/acpi/description.h"
#include "vmm/arch/boot_cpu.h"
#include "vmm/config/vm_config.h"
#include "vmm/memory/guest_memory.h"

namespace hearth {

struct GuestLoadRequest {
  BootSourceConfig boot;
  uint64_t mem_size = 0;
  uint32_t vcpu_count = 1;
  std::vector<acpi::VirtioMmioDevice> virtio_devices;
  // Appended to boot_args by the VMM (virtio_mmio.device=..., root=...).
  std::vector<std::string> extra_cmdline;
};

struct BootEntry {
  arch::EntryMode mode = arch::EntryMode::kLinux64;
  uint64_t entry = 0;
  std::string cmdline;  // as the guest sees it
};

// Used when boot-source.boot_args is absent: a serial console and Firecracker's usual switches.
inline constexpr const char* kDefaultBootArgs = "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux";

// Throws Error naming the file or the limit that was exceeded.
BootEntry load_guest_image(const GuestMemory& mem, const GuestLoadRequest& request);

}  // namespace hearth
