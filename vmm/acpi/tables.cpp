#include "vmm/acpi/tables.h"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "vmm/acpi/sdt.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

// FADT field offsets (ACPI 6.5 table 5.9). Fields not named here stay zero: in hardware-reduced
// mode the PM1/GPE/SCI blocks do not exist.
constexpr size_t kFadtIapcBootArch = 109;
constexpr size_t kFadtFlags = 112;
constexpr size_t kFadtMinorVersion = 131;
constexpr size_t kFadtXDsdt = 140;
constexpr size_t kFadtHypervisorVendor = 268;

constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinor = 5;

// IA-PC boot architecture flags. Set: no VGA, no CMOS RTC (Hearth emulates neither, so Linux
// must not poke ports 0x3c0/0x70). Clear: LEGACY_DEVICES and 8042, so Linux finds the i8042
// only through its PNP0303 DSDT entry; MSI_NOT_SUPPORTED stays clear for a future PCI transport.
constexpr uint16_t kIapcVgaNotPresent = 1u << 2;
constexpr uint16_t kIapcCmosRtcNotPresent = 1u << 5;

// FADT feature flags: no fixed power/sleep buttons, hardware-reduced ACPI (no SCI, PM timer,
// PM1 blocks or FACS), as Firecracker does.
constexpr uint32_t kFlagPwrButton = 1u << 4;
constexpr uint32_t kFlagSlpButton = 1u << 5;
constexpr uint32_t kFlagHwReducedAcpi = 1u << 20;

// MADT
constexpr uint8_t kMadtRevision = 6;
constexpr uint8_t kMadtTypeLapic = 0;
constexpr uint8_t kMadtTypeIoapic = 1;
constexpr uint32_t kLapicEnabled = 1u << 0;
constexpr uint32_t kMaxXapicVcpus = 254;  // xAPIC ids are 8 bits and 0xff is the broadcast id

}  // namespace

Bytes build_rsdp(uint64_t xsdt_addr) {
  constexpr size_t kV1Size = 20;  // the ACPI 1.0 part covered by the first checksum
  Bytes out{'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
  put_u8(out, 0);  // checksum
  append(out, kOemId);
  put_u8(out, 2);  // revision: ACPI 2.0+
  put_u32(out, 0);  // RsdtAddress: only the XSDT is provided
  put_u32(out, static_cast<uint32_t>(kRsdpSize));
  put_u64(out, xsdt_addr);
  put_u8(out, 0);  // extended checksum
  out.insert(out.end(), 3, 0);
  out[8] = checksum(std::span(out).first(kV1Size));
  out[32] = checksum(out);
  return out;
}

Bytes build_xsdt(const std::vector<uint64_t>& tables) {
  Bytes out = sdt_header("XSDT", 1, "HRTHXSDT");
  for (uint64_t addr : tables) put_u64(out, addr);
  sdt_finish(out);
  return out;
}

Bytes build_fadt(uint64_t dsdt_addr) {
  Bytes out = sdt_header("FACP", kFadtRevision, "HRTHFACP");
  out.resize(kFadtSize, 0);
  poke_u16(out, kFadtIapcBootArch, kIapcVgaNotPresent | kIapcCmosRtcNotPresent);
  poke_u32(out, kFadtFlags, kFlagPwrButton | kFlagSlpButton | kFlagHwReducedAcpi);
  out[kFadtMinorVersion] = kFadtMinor;
  // Only X_DSDT: the spec has OSPM ignore the 32-bit DSDT field when X_DSDT is set.
  poke_u64(out, kFadtXDsdt, dsdt_addr);
  constexpr std::string_view kVendor = "HEARTHVM";
  std::copy(kVendor.begin(), kVendor.end(), out.begin() + kFadtHypervisorVendor);
  sdt_finish(out);
  return out;
}

Bytes build_madt(uint32_t vcpu_count, uint32_t lapic_addr, uint32_t ioapic_addr) {
  if (vcpu_count == 0 || vcpu_count > kMaxXapicVcpus) {
    throw Error(fmt::format("ACPI: MADT cannot describe {} vCPUs (1..{})", vcpu_count, kMaxXapicVcpus));
  }
  Bytes out = sdt_header("APIC", kMadtRevision, "HRTHAPIC");
  put_u32(out, lapic_addr);
  // Flags 0, no PCAT_COMPAT (as Firecracker): Linux on x86 ignores the bit and probes the 8259
  // itself; the guest is meant to use the IOAPIC, not KVM's PIC.
  put_u32(out, 0);
  for (uint32_t i = 0; i < vcpu_count; ++i) {
    put_u8(out, kMadtTypeLapic);
    put_u8(out, kMadtLapicSize);
    put_u8(out, static_cast<uint8_t>(i));  // ACPI processor UID
    put_u8(out, static_cast<uint8_t>(i));  // APIC id: KVM gives vCPU i APIC id i
    put_u32(out, kLapicEnabled);
  }
  put_u8(out, kMadtTypeIoapic);
  put_u8(out, kMadtIoapicSize);
  put_u8(out, 0);  // IOAPIC id
  put_u8(out, 0);
  put_u32(out, ioapic_addr);
  put_u32(out, 0);  // GSI base
  // No Interrupt Source Overrides: KVM's default routing sends ISA IRQ n (the PIT included, on
  // GSI 0) to IOAPIC pin n, which is exactly Linux's identity default for IRQs 0..15 (edge,
  // active high). A PC-style IRQ0->GSI2 override would be wrong here, and a hardware-reduced
  // platform has no SCI to override.
  sdt_finish(out);
  return out;
}

}  // namespace hearth::acpi
