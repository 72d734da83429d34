#include "vmm/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "vmm/base/error.h"

namespace hearth::kvm {
namespace {

// Capabilities the VMM relies on; a missing one is reported by name up front.
struct RequiredCap {
  long cap;
  const char* name;
};
constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_HLT, "KVM_CAP_HLT"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
};

// linux/kvm.h declares the variable-length structs with __DECLARE_FLEX_ARRAY, which under C++ inserts
// an empty struct (size 1) before the array: sizeof and the ioctl numbers come out wrong. So we lay
// out the fixed headers ourselves and derive the ioctl numbers from them.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
struct MsrListHeader {
  uint32_t nmsrs;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);
static_assert(sizeof(XsaveArea) == 4096);

// A header followed by `count` entries, contiguous as the kernel expects.
template <typename Header, typename Entry>
struct VarBuffer {
  explicit VarBuffer(size_t count) : bytes(sizeof(Header) + count * sizeof(Entry)) {}
  Header* header() { return reinterpret_cast<Header*>(bytes.data()); }
  Entry* entries() { return reinterpret_cast<Entry*>(bytes.data() + sizeof(Header)); }
  std::vector<uint8_t> bytes;
};

template <typename T>
void ioctl_or_throw(int fd, unsigned long request, T arg, const char* what) {
  if (::ioctl(fd, request, arg) < 0) throw_errno(what);
}

}  // namespace

Kvm::Kvm(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) throw_errno(fmt::format("cannot open {} (is KVM enabled and are you allowed to use it?)", path));
  int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    throw Error(fmt::format("{}: KVM API version {} is not the supported version {}", path, version, KVM_API_VERSION));
  }
  for (const auto& c : kRequiredCaps) {
    if (check_extension(c.cap) <= 0) throw Error(fmt::format("{}: required KVM capability {} is missing", path, c.name));
  }
  int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) throw_errno("KVM_GET_VCPU_MMAP_SIZE");
  vcpu_mmap_size_ = static_cast<size_t>(size);
}

int Kvm::check_extension(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

CpuidEntries Kvm::supported_cpuid() const {
  // Grow the buffer until the kernel stops saying E2BIG.
  for (size_t n = 64; n <= 4096; n *= 2) {
    VarBuffer<CpuidHeader, kvm_cpuid_entry2> buf(n);
    buf.header()->nent = static_cast<uint32_t>(n);
    if (::ioctl(fd_.get(), kGetSupportedCpuid, buf.bytes.data()) == 0) {
      return CpuidEntries(buf.entries(), buf.entries() + buf.header()->nent);
    }
    if (errno != E2BIG) throw_errno("KVM_GET_SUPPORTED_CPUID");
  }
  throw Error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

std::vector<uint32_t> Kvm::msr_index_list() const {
  for (uint32_t n = 256; n <= 16384; n *= 2) {
    VarBuffer<MsrListHeader, uint32_t> buf(n);
    buf.header()->nmsrs = n;
    if (::ioctl(fd_.get(), kGetMsrIndexList, buf.bytes.data()) == 0) {
      return std::vector<uint32_t>(buf.entries(), buf.entries() + buf.header()->nmsrs);
    }
    if (errno != E2BIG) throw_errno("KVM_GET_MSR_INDEX_LIST");
  }
  throw Error("KVM_GET_MSR_INDEX_LIST: too many entries");
}

Vm Kvm::create_vm() const {
  int fd;
  do {
    fd = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("KVM_CREATE_VM");
  return Vm(UniqueFd(fd), vcpu_mmap_size_);
}

void Vm::set_user_memory_region(uint32_t slot, uint64_t guest_addr, uint64_t size, void* host, uint32_t flags) const {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = guest_addr;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  ioctl_or_throw(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
}

std::vector<uint64_t> Vm::get_dirty_log(uint32_t slot, uint64_t size) const {
  const uint64_t pages = (size + 4095) / 4096;
  std::vector<uint64_t> bitmap((pages + 63) / 64, 0);
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  ioctl_or_throw(fd_.get(), KVM_GET_DIRTY_LOG, &log, "KVM_GET_DIRTY_LOG");
  return bitmap;
}

bool Vm::enable_manual_dirty_protect() {
  const int supported = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
  if (supported <= 0 || !(supported & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) return false;
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
  cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
  if (::ioctl(fd_.get(), KVM_ENABLE_CAP, &cap) != 0) return false;
  manual_dirty_protect_ = true;
  return true;
}

void Vm::clear_dirty_log(uint32_t slot, const std::vector<uint64_t>& bitmap) const {
  // The bitmap covers the whole slot (a multiple of 64 pages, or up to its end), as KVM requires.
  kvm_clear_dirty_log clear{};
  clear.slot = slot;
  clear.first_page = 0;
  clear.num_pages = static_cast<uint32_t>(bitmap.size() * 64);
  clear.dirty_bitmap = const_cast<uint64_t*>(bitmap.data());
  ioctl_or_throw(fd_.get(), KVM_CLEAR_DIRTY_LOG, &clear, "KVM_CLEAR_DIRTY_LOG");
}

void Vm::set_tss_addr(uint64_t addr) const {
  ioctl_or_throw(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr), "KVM_SET_TSS_ADDR");
}

void Vm::set_identity_map_addr(uint64_t addr) const {
  ioctl_or_throw(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &addr, "KVM_SET_IDENTITY_MAP_ADDR");
}

void Vm::create_irqchip() const { ioctl_or_throw(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"); }

void Vm::create_pit2() const {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;  // port 0x61 handled in-kernel, no speaker exits
  ioctl_or_throw(fd_.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2");
}

void Vm::disable_pit_reinject() const {
  kvm_reinject_control reinject{};
  reinject.pit_reinject = 0;
  ioctl_or_throw(fd_.get(), KVM_REINJECT_CONTROL, &reinject, "KVM_REINJECT_CONTROL");
}

void Vm::register_irqfd(int eventfd, uint32_t gsi) const {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(eventfd);
  irqfd.gsi = gsi;
  ioctl_or_throw(fd_.get(), KVM_IRQFD, &irqfd, "KVM_IRQFD");
}

void Vm::unregister_irqfd(int eventfd, uint32_t gsi) const {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(eventfd);
  irqfd.gsi = gsi;
  irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ioctl_or_throw(fd_.get(), KVM_IRQFD, &irqfd, "KVM_IRQFD deassign");
}

static kvm_ioeventfd make_ioeventfd(int eventfd, uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch) {
  kvm_ioeventfd io{};
  io.fd = eventfd;
  io.addr = addr;
  io.len = len;
  if (datamatch) {
    io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    io.datamatch = *datamatch;
  }
  return io;
}

void Vm::register_ioeventfd(int eventfd, uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch) const {
  auto io = make_ioeventfd(eventfd, addr, len, datamatch);
  ioctl_or_throw(fd_.get(), KVM_IOEVENTFD, &io, "KVM_IOEVENTFD");
}

void Vm::unregister_ioeventfd(int eventfd, uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch) const {
  auto io = make_ioeventfd(eventfd, addr, len, datamatch);
  io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  ioctl_or_throw(fd_.get(), KVM_IOEVENTFD, &io, "KVM_IOEVENTFD deassign");
}

void Vm::set_irq_line(uint32_t irq, bool level) const {
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  ioctl_or_throw(fd_.get(), KVM_IRQ_LINE, &line, "KVM_IRQ_LINE");
}

kvm_clock_data Vm::get_clock() const {
  kvm_clock_data clock{};
  ioctl_or_throw(fd_.get(), KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK");
  return clock;
}

void Vm::set_clock(const kvm_clock_data& clock) const {
  ioctl_or_throw(fd_.get(), KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
}

kvm_irqchip Vm::get_irqchip(uint32_t chip_id) const {
  kvm_irqchip chip{};
  chip.chip_id = chip_id;
  ioctl_or_throw(fd_.get(), KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP");
  return chip;
}

void Vm::set_irqchip(const kvm_irqchip& chip) const {
  ioctl_or_throw(fd_.get(), KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP");
}

kvm_pit_state2 Vm::get_pit2() const {
  kvm_pit_state2 pit{};
  ioctl_or_throw(fd_.get(), KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
  return pit;
}

void Vm::set_pit2(const kvm_pit_state2& pit) const { ioctl_or_throw(fd_.get(), KVM_SET_PIT2, &pit, "KVM_SET_PIT2"); }

Vcpu Vm::create_vcpu(uint32_t id) const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) throw_errno(fmt::format("KVM_CREATE_VCPU {}", id));
  UniqueFd vcpu_fd(fd);
  void* run = ::mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) throw_errno(fmt::format("mmap of vCPU {} run structure", id));
  return Vcpu(std::move(vcpu_fd), Mapping(run, vcpu_mmap_size_), id);
}

bool Vcpu::run() const {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  throw_errno(fmt::format("KVM_RUN on vCPU {}", id_));
}

#define HEARTH_GET(type, req, name)                                        \
  type Vcpu::get_##name() const {                                          \
    type value{};                                                          \
    ioctl_or_throw(fd_.get(), req, &value, #req);                          \
    return value;                                                          \
  }                                                                        \
  void Vcpu::set_##name(const type& value) const {                         \
    ioctl_or_throw(fd_.get(), req##_SET, &value, #req "_SET");             \
  }
// KVM names the pairs KVM_GET_x / KVM_SET_x; map them onto one macro argument.
#define KVM_GET_REGS_SET KVM_SET_REGS
#define KVM_GET_SREGS_SET KVM_SET_SREGS
#define KVM_GET_FPU_SET KVM_SET_FPU
#define KVM_GET_LAPIC_SET KVM_SET_LAPIC
#define KVM_GET_MP_STATE_SET KVM_SET_MP_STATE
#define KVM_GET_VCPU_EVENTS_SET KVM_SET_VCPU_EVENTS
#define KVM_GET_DEBUGREGS_SET KVM_SET_DEBUGREGS
#define KVM_GET_XCRS_SET KVM_SET_XCRS
#define kGetXsave_SET kSetXsave
HEARTH_GET(kvm_regs, KVM_GET_REGS, regs)
HEARTH_GET(kvm_sregs, KVM_GET_SREGS, sregs)
HEARTH_GET(kvm_fpu, KVM_GET_FPU, fpu)
HEARTH_GET(kvm_lapic_state, KVM_GET_LAPIC, lapic)
HEARTH_GET(kvm_mp_state, KVM_GET_MP_STATE, mp_state)
HEARTH_GET(kvm_vcpu_events, KVM_GET_VCPU_EVENTS, vcpu_events)
HEARTH_GET(kvm_debugregs, KVM_GET_DEBUGREGS, debugregs)
HEARTH_GET(kvm_xcrs, KVM_GET_XCRS, xcrs)
HEARTH_GET(XsaveArea, kGetXsave, xsave)
#undef HEARTH_GET

void Vcpu::set_cpuid(const CpuidEntries& entries) const {
  VarBuffer<CpuidHeader, kvm_cpuid_entry2> buf(entries.size());
  buf.header()->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.entries(), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  ioctl_or_throw(fd_.get(), kSetCpuid2, buf.bytes.data(), "KVM_SET_CPUID2");
}

void Vcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) const {
  VarBuffer<MsrsHeader, kvm_msr_entry> buf(entries.size());
  buf.header()->nmsrs = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.entries(), entries.data(), entries.size() * sizeof(kvm_msr_entry));
  int n = ::ioctl(fd_.get(), kSetMsrs, buf.bytes.data());
  if (n < 0) throw_errno("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != entries.size()) {
    throw Error(fmt::format("KVM_SET_MSRS: MSR {:#x} was rejected", entries[static_cast<size_t>(n)].index));
  }
}

std::vector<kvm_msr_entry> Vcpu::get_msrs(const std::vector<uint32_t>& indices) const {
  VarBuffer<MsrsHeader, kvm_msr_entry> buf(indices.size());
  buf.header()->nmsrs = static_cast<uint32_t>(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) buf.entries()[i] = kvm_msr_entry{indices[i], 0, 0};
  int n = ::ioctl(fd_.get(), kGetMsrs, buf.bytes.data());
  if (n < 0) throw_errno("KVM_GET_MSRS");
  return std::vector<kvm_msr_entry>(buf.entries(), buf.entries() + n);
}

}  // namespace hearth::kvm
