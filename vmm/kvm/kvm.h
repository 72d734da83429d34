#pragma once
// Thin RAII wrappers over the KVM ioctls. No policy: callers decide what to set.
#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmm/base/fd.h"
#include "vmm/base/mapping.h"

namespace hearth::kvm {

class Vm;
class Vcpu;

// CPUID entries in the kernel's layout (struct kvm_cpuid2 with a flexible array).
using CpuidEntries = std::vector<kvm_cpuid_entry2>;

// The legacy 4 KiB XSAVE area of KVM_GET_XSAVE (struct kvm_xsave without its C++-broken flex array).
struct XsaveArea {
  uint32_t region[1024];
};

class Kvm {
 public:
  // Opens `path` (default /dev/kvm), checks the API version and the capabilities Hearth relies on.
  explicit Kvm(const std::string& path = "/dev/kvm");
  int check_extension(long cap) const;
  CpuidEntries supported_cpuid() const;
  std::vector<uint32_t> msr_index_list() const;
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  Vm create_vm() const;
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  size_t vcpu_mmap_size_ = 0;
};

class Vm {
 public:
  Vm(UniqueFd fd, size_t vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}
  int fd() const { return fd_.get(); }
  // Leaves the VM fd open for exit_group, which destroys the VM after the address space is gone:
  // ~0.5 ms less teardown than close() first (bench/lifecycle_bench.py, docs/benchmarks.md).
  void leave_open_until_exit() { (void)fd_.release(); }

  void set_user_memory_region(uint32_t slot, uint64_t guest_addr, uint64_t size, void* host, uint32_t flags = 0) const;
  // Pages of `slot` (of `size` bytes, registered with KVM_MEM_LOG_DIRTY_PAGES) written since the last
  // call, one bit per 4 KiB page; reading clears the log.
  std::vector<uint64_t> get_dirty_log(uint32_t slot, uint64_t size) const;
  // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: KVM_GET_DIRTY_LOG then only reads the log, and the caller re-protects
  // the pages it took with clear_dirty_log(), so reading a large log does not hold up faulting vCPUs.
  // False when the kernel lacks it (the log is then read and cleared in one call).
  bool enable_manual_dirty_protect();
  bool manual_dirty_protect() const { return manual_dirty_protect_; }
  void clear_dirty_log(uint32_t slot, const std::vector<uint64_t>& bitmap) const;
  void set_tss_addr(uint64_t addr) const;
  void set_identity_map_addr(uint64_t addr) const;
  void create_irqchip() const;
  void create_pit2() const;
  // Lost PIT ticks are then dropped, not re-injected (QEMU's lost_tick_policy=discard); guests keep time
  // with kvmclock/TSC. Re-injection's IRQ-ack notifier is unregistered here, which waits for an SRCU grace
  // period (13-23 ms on a nested host): done now, VM destruction no longer waits for it.
  void disable_pit_reinject() const;
  void register_irqfd(int eventfd, uint32_t gsi) const;
  void unregister_irqfd(int eventfd, uint32_t gsi) const;
  // Guest MMIO writes of `len` bytes at `addr` (matching `datamatch` when given) signal `eventfd`.
  void register_ioeventfd(int eventfd, uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch) const;
  void unregister_ioeventfd(int eventfd, uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch) const;
  void set_irq_line(uint32_t irq, bool level) const;
  kvm_clock_data get_clock() const;
  void set_clock(const kvm_clock_data& clock) const;
  // chip_id: KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE or KVM_IRQCHIP_IOAPIC.
  kvm_irqchip get_irqchip(uint32_t chip_id) const;
  void set_irqchip(const kvm_irqchip& chip) const;
  kvm_pit_state2 get_pit2() const;
  void set_pit2(const kvm_pit_state2& pit) const;
  Vcpu create_vcpu(uint32_t id) const;

 private:
  UniqueFd fd_;
  size_t vcpu_mmap_size_;
  bool manual_dirty_protect_ = false;
};

class Vcpu {
 public:
  Vcpu(UniqueFd fd, Mapping run, uint32_t id) : fd_(std::move(fd)), run_(std::move(run)), id_(id) {}
  int fd() const { return fd_.get(); }
  uint32_t id() const { return id_; }
  kvm_run* run_struct() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  // One KVM_RUN. Returns false when interrupted by a signal (EINTR) or immediate_exit.
  bool run() const;

  kvm_regs get_regs() const;
  void set_regs(const kvm_regs& regs) const;
  kvm_sregs get_sregs() const;
  void set_sregs(const kvm_sregs& sregs) const;
  kvm_fpu get_fpu() const;
  void set_fpu(const kvm_fpu& fpu) const;
  void set_cpuid(const CpuidEntries& entries) const;
  // Returns how many MSRs the kernel accepted; throws if fewer than given.
  void set_msrs(const std::vector<kvm_msr_entry>& entries) const;
  std::vector<kvm_msr_entry> get_msrs(const std::vector<uint32_t>& indices) const;
  kvm_lapic_state get_lapic() const;
  void set_lapic(const kvm_lapic_state& lapic) const;
  kvm_mp_state get_mp_state() const;
  void set_mp_state(const kvm_mp_state& state) const;
  kvm_vcpu_events get_vcpu_events() const;
  void set_vcpu_events(const kvm_vcpu_events& events) const;
  kvm_debugregs get_debugregs() const;
  void set_debugregs(const kvm_debugregs& regs) const;
  kvm_xcrs get_xcrs() const;
  void set_xcrs(const kvm_xcrs& xcrs) const;
  XsaveArea get_xsave() const;
  void set_xsave(const XsaveArea& area) const;

 private:
  UniqueFd fd_;
  Mapping run_;
  uint32_t id_;
};

}  // namespace hearth::kvm
