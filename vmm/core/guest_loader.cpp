#include "vmm/core/guest_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/acpi/acpi.h"
#include "vmm/arch/layout.h"
#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/loader/boot_params.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/elf.h"
#include "vmm/loader/e820.h"
#include "vmm/loader/initrd.h"
#include "vmm/loader/kernel_image.h"
#include "vmm/loader/pvh.h"

namespace hearth {
namespace {

std::string build_cmdline(const GuestLoadRequest& request) {
  std::string cmdline = request.boot.boot_args.value_or(kDefaultBootArgs);
  for (const auto& extra : request.extra_cmdline) {
    if (!cmdline.empty()) cmdline += ' ';
    cmdline += extra;
  }
  return cmdline;
}

// Highest address the kernel needs, or 0 when the image itself is malformed.
uint64_t kernel_footprint_end(std::span<const uint8_t> image) {
  try {
    if (loader::has_elf_magic(image)) {
      const auto elf = loader::parse_elf(image);
      return elf.segments.empty() ? 0 : elf.segments.back().paddr + elf.segments.back().mem_size;
    }
    if (loader::has_bzimage_magic(image)) {
      return loader::place_bzimage(loader::parse_bzimage(image), UINT64_MAX / 2).end;
    }
  } catch (const Error&) {
  }
  return 0;
}

// load_kernel, with "too little guest memory" reported against the setting the user can change.
loader::LoadedKernel load_kernel(const GuestMemory& mem, std::span<const uint8_t> image, const GuestLoadRequest& request) {
  try {
    return loader::load_kernel(mem, image);
  } catch (const Error& e) {
    const uint64_t needed = kernel_footprint_end(image);
    const uint64_t low_ram = std::min(request.mem_size, layout::kMmioGapStart);
    if (needed > layout::kMmioGapStart) {
      // More memory cannot help: the kernel must lie below the MMIO gap.
      throw Error(fmt::format("boot-source.kernel_image_path: kernel image {} extends to {:#x}, into the MMIO gap "
                              "[{:#x}, {:#x}); kernels must load below {:#x} ({})",
                              request.boot.kernel_image_path, needed, layout::kMmioGapStart, layout::kMmioGapEnd,
                              layout::kMmioGapStart, e.what()));
    }
    if (needed > low_ram) {
      throw Error(fmt::format("machine-config.mem_size_mib: {} MiB is too small for kernel image {}, which needs at "
                              "least {} MiB ({})",
                              request.mem_size >> 20, request.boot.kernel_image_path, (needed + (1 << 20) - 1) >> 20,
                              e.what()));
    }
    throw;
  }
}

}  // namespace

BootEntry load_guest_image(const GuestMemory& mem, const GuestLoadRequest& request) {
  // Neither file can be useful beyond the guest's memory size, so nothing larger is read.
  const auto kernel_bytes = read_host_file(request.boot.kernel_image_path, "boot-source.kernel_image_path",
                                           request.mem_size, "machine-config.mem_size_mib");
  const loader::LoadedKernel kernel = load_kernel(mem, kernel_bytes, request);

  std::optional<loader::InitrdPlacement> initrd;
  if (request.boot.initrd_path) {
    const auto initrd_bytes = read_host_file(*request.boot.initrd_path, "boot-source.initrd_path", request.mem_size,
                                             "machine-config.mem_size_mib");
    initrd = loader::place_initrd(mem, initrd_bytes, kernel, request.mem_size);
  }

  acpi::Description acpi;
  acpi.vcpu_count = request.vcpu_count;
  acpi.lapic_addr = layout::kLapicAddr;
  acpi.ioapic_addr = layout::kIoapicAddr;
  acpi.serial_port = layout::kSerialPort;
  acpi.serial_irq = layout::kSerialIrq;
  acpi.virtio_devices = request.virtio_devices;
  acpi.i8042 = acpi::I8042Device{layout::kI8042DataPort, layout::kI8042CommandPort, layout::kI8042Irq};
  const uint64_t rsdp = acpi::write_tables(mem, acpi, layout::kAcpiStart, layout::kAcpiEnd);

  const auto e820 = loader::build_e820(request.mem_size);
  BootEntry entry;
  entry.cmdline = build_cmdline(request);
  if (request.boot.boot_protocol == BootProtocol::kPvh) {
    if (!kernel.pvh_entry) {
      throw Error(fmt::format("kernel image {}: boot_protocol is pvh but the image has no PVH entry note",
                              request.boot.kernel_image_path));
    }
    loader::write_pvh_start_info(mem, entry.cmdline, initrd, e820, rsdp);
    entry.mode = arch::EntryMode::kPvh32;
    entry.entry = *kernel.pvh_entry;
  } else {
    loader::write_boot_params(mem, kernel, entry.cmdline, initrd, e820, rsdp);
    entry.mode = arch::EntryMode::kLinux64;
    entry.entry = kernel.entry64;
  }
  arch::write_boot_tables(mem, entry.mode);
  return entry;
}

}  // namespace hearth
