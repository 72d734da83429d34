#pragma once
// Linux x86 boot protocol structures (Documentation/arch/x86/boot.rst, zero-page.rst) and the
// writer of the zero page handed to a kernel entered at its 64-bit entry point.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/loader/e820.h"
#include "vmm/loader/initrd.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::loader {

inline constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kBootFlagMagic = 0xAA55;
inline constexpr uint8_t kLoaderTypeUndefined = 0xff;
inline constexpr uint8_t kLoadflagLoadedHigh = 0x01;
inline constexpr uint8_t kLoadflagCanUseHeap = 0x80;
inline constexpr uint16_t kXlfKernel64 = 0x01;
inline constexpr uint32_t kDefaultInitrdAddrMax = 0x37ffffff;  // boot.rst: for protocols without the field
inline constexpr uint32_t kElfKernelAlignment = 0x01000000;    // what Firecracker reports for vmlinux
inline constexpr uint16_t kElfBootProtocol = 0x020f;           // version we claim for ELF kernels
inline constexpr size_t kZeroPageE820Max = 128;

// Offsets below are from the start of the bzImage file, which equal those inside boot_params.
struct [[gnu::packed]] SetupHeader {
  uint8_t setup_sects;
  uint16_t root_flags;
  uint32_t syssize;
  uint16_t ram_size;
  uint16_t vid_mode;
  uint16_t root_dev;
  uint16_t boot_flag;
  uint16_t jump;
  uint32_t header;
  uint16_t version;
  uint32_t realmode_swtch;
  uint16_t start_sys_seg;
  uint16_t kernel_version;
  uint8_t type_of_loader;
  uint8_t loadflags;
  uint16_t setup_move_size;
  uint32_t code32_start;
  uint32_t ramdisk_image;
  uint32_t ramdisk_size;
  uint32_t bootsect_kludge;
  uint16_t heap_end_ptr;
  uint8_t ext_loader_ver;
  uint8_t ext_loader_type;
  uint32_t cmd_line_ptr;
  uint32_t initrd_addr_max;
  uint32_t kernel_alignment;
  uint8_t relocatable_kernel;
  uint8_t min_alignment;
  uint16_t xloadflags;
  uint32_t cmdline_size;
  uint32_t hardware_subarch;
  uint64_t hardware_subarch_data;
  uint32_t payload_offset;
  uint32_t payload_length;
  uint64_t setup_data;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t handover_offset;
  uint32_t kernel_info_offset;
};
inline constexpr size_t kSetupHeaderStart = 0x1f1;
inline constexpr size_t kSetupHeaderEnd = 0x26c;
static_assert(sizeof(SetupHeader) == kSetupHeaderEnd - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, header) == 0x202 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, version) == 0x206 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, type_of_loader) == 0x210 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, ramdisk_image) == 0x218 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, initrd_addr_max) == 0x22c - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, setup_data) == 0x250 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, pref_address) == 0x258 - kSetupHeaderStart);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - kSetupHeaderStart);

struct [[gnu::packed]] BootE820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};
static_assert(sizeof(BootE820Entry) == 20);

// struct boot_params: the 4 KiB "zero page". Fields we never fill are kept as opaque bytes.
struct [[gnu::packed]] BootParams {
  uint8_t screen_info[0x40];
  uint8_t apm_bios_info[0x14];
  uint8_t pad2[4];
  uint64_t tboot_addr;
  uint8_t ist_info[0x10];
  uint64_t acpi_rsdp_addr;
  uint8_t pad3[8];
  uint8_t hd0_info[0x10];
  uint8_t hd1_info[0x10];
  uint8_t sys_desc_table[0x10];
  uint8_t olpc_ofw_header[0x10];
  uint32_t ext_ramdisk_image;
  uint32_t ext_ramdisk_size;
  uint32_t ext_cmd_line_ptr;
  uint8_t pad4[0x74];
  uint8_t edid_info[0x80];
  uint8_t efi_info[0x20];
  uint32_t alt_mem_k;
  uint32_t scratch;
  uint8_t e820_entries;
  uint8_t eddbuf_entries;
  uint8_t edd_mbr_sig_buf_entries;
  uint8_t kbd_status;
  uint8_t secure_boot;
  uint8_t pad5[2];
  uint8_t sentinel;  // left 0: a non-zero sentinel makes Linux wipe fields it thinks are stale
  uint8_t pad6[1];
  SetupHeader hdr;
  uint8_t pad7[0x290 - kSetupHeaderEnd];
  uint32_t edd_mbr_sig_buffer[16];
  BootE820Entry e820_table[kZeroPageE820Max];
  uint8_t pad8[0x30];
  uint8_t eddbuf[0x1ec];
  uint8_t pad9[0x114];
};
static_assert(sizeof(BootParams) == 0x1000);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderStart);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);
static_assert(offsetof(BootParams, eddbuf) == 0xd00);

struct LoadedKernel;

// Writes the command line at layout::kCmdlineAddr and boot_params at layout::kZeroPageAddr for the
// Linux 64-bit boot protocol (rsi = kZeroPageAddr at entry). Throws Error when the command line is too
// long for the kernel or the e820 map has more than 128 entries.
void write_boot_params(const GuestMemory& mem, const LoadedKernel& kernel, const std::string& cmdline,
                       std::optional<InitrdPlacement> initrd, const std::vector<E820Entry>& e820,
                       uint64_t rsdp_addr);

}  // namespace hearth::loader
