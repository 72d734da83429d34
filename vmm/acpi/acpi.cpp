#include "vmm/acpi/acpi.h"

#include <fmt/format.h>

#include "vmm/acpi/dsdt.h"
#include "vmm/acpi/sdt.h"
#include "vmm/acpi/tables.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

constexpr uint64_t kRsdpAlign = 16;  // Linux scans the BIOS area on 16-byte boundaries
constexpr uint64_t kTableAlign = 8;

// Hands out addresses in [base, limit), naming the table that overflows.
class Cursor {
 public:
  Cursor(uint64_t base, uint64_t limit) : next_(base), limit_(limit) {}
  uint64_t take(const char* table, uint64_t size) {
    uint64_t pad = (kTableAlign - next_ % kTableAlign) % kTableAlign;
    if (pad > limit_ - next_ || size > limit_ - next_ - pad) {  // next_ <= limit_ always holds
      throw Error(fmt::format("ACPI: {} ({} bytes) does not fit below {:#x}", table, size, limit_));
    }
    uint64_t addr = next_ + pad;
    next_ = addr + size;
    return addr;
  }

 private:
  uint64_t next_;
  uint64_t limit_;
};

}  // namespace

std::vector<PlacedTable> place_tables(const Description& desc, uint64_t base, uint64_t limit) {
  if (base % kRsdpAlign != 0) throw Error(fmt::format("ACPI: RSDP address {:#x} is not 16-byte aligned", base));
  if (base >= limit) throw Error(fmt::format("ACPI: empty table area [{:#x}, {:#x})", base, limit));
  validate(desc);

  // Sizes do not depend on addresses, so lay out first and fill pointers in afterwards.
  Bytes madt = build_madt(desc.vcpu_count, static_cast<uint32_t>(desc.lapic_addr),
                          static_cast<uint32_t>(desc.ioapic_addr));
  Bytes dsdt = build_dsdt(desc);
  constexpr size_t kXsdtEntries = 2;  // FADT, MADT

  Cursor cursor(base, limit);
  uint64_t rsdp_addr = cursor.take("RSDP", kRsdpSize);
  uint64_t xsdt_addr = cursor.take("XSDT", kSdtHeaderSize + 8 * kXsdtEntries);
  uint64_t fadt_addr = cursor.take("FADT", kFadtSize);
  uint64_t madt_addr = cursor.take("MADT", madt.size());
  uint64_t dsdt_addr = cursor.take("DSDT", dsdt.size());

  std::vector<PlacedTable> out;
  out.push_back({"RSDP", rsdp_addr, build_rsdp(xsdt_addr)});
  out.push_back({"XSDT", xsdt_addr, build_xsdt({fadt_addr, madt_addr})});
  out.push_back({"FACP", fadt_addr, build_fadt(dsdt_addr)});
  out.push_back({"APIC", madt_addr, std::move(madt)});
  out.push_back({"DSDT", dsdt_addr, std::move(dsdt)});
  return out;
}

uint64_t write_tables(const GuestMemory& mem, const Description& desc, uint64_t base, uint64_t limit) {
  std::vector<PlacedTable> tables = place_tables(desc, base, limit);
  for (const PlacedTable& t : tables) {
    if (!mem.contains(t.addr, t.bytes.size())) {
      throw Error(fmt::format("ACPI: {} at {:#x} ({} bytes) is outside guest memory", t.name, t.addr, t.bytes.size()));
    }
  }
  for (const PlacedTable& t : tables) mem.write(t.addr, t.bytes);
  return tables.front().addr;
}

}  // namespace hearth::acpi
