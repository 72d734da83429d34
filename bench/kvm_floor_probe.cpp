// hearth-kvm-floor-probe: the host's floor for one microVM lifecycle, with no VMM around it.
//
// A minimal, dependency-free KVM program doing what any VMM must: open /dev/kvm, KVM_CREATE_VM, in-kernel
// irqchip and PIT (as Hearth and QEMU microvm), one anonymous memory slot of --mem-mib, one vCPU, then
// KVM_RUN of an 8-byte guest that writes one byte to port 0x3f8 (then the probe exits), in 64-bit mode with Hearth's
// identity map of the first 4 GiB (2 MiB pages), or in real mode with --real-mode. lifecycle_bench.py runs
// it as the "floor" side: exec -> first guest byte -> exit, and churn, measured exactly like the VMMs (after
// the byte it prints the test guest's "TESTGUEST PASS" line, the mark the bench times the exit from).
// With --timings it prints each step's duration to stderr (microseconds).
//
//   hearth-kvm-floor-probe [--mem-mib 128] [--real-mode] [--timings]
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr uint64_t kCodeAddr = 0x1000;
constexpr uint64_t kPml4Addr = 0x9000;
constexpr uint64_t kPdptAddr = 0xa000;
constexpr uint64_t kPdAddr = 0xb000;  // four page directories, 0xb000..0xefff
constexpr uint64_t kMib = 1024 * 1024;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "hearth-kvm-floor-probe: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int ioctl_or_die(int fd, unsigned long request, const void* arg, const char* what) {
  const int r = ::ioctl(fd, request, arg);
  if (r < 0) die(what);
  return r;
}

struct Clock {
  bool enabled = false;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  void step(const char* name) {
    const auto now = std::chrono::steady_clock::now();
    if (enabled) {
      std::fprintf(stderr, "%-26s %8lld us\n", name,
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(now - last).count()));
    }
    last = now;
  }
};

void write_identity_map(uint8_t* mem) {
  auto* pml4 = reinterpret_cast<uint64_t*>(mem + kPml4Addr);
  auto* pdpt = reinterpret_cast<uint64_t*>(mem + kPdptAddr);
  pml4[0] = kPdptAddr | 0x3;  // present, writable
  for (uint64_t i = 0; i < 4; ++i) {
    pdpt[i] = (kPdAddr + i * 0x1000) | 0x3;
    auto* pd = reinterpret_cast<uint64_t*>(mem + kPdAddr + i * 0x1000);
    for (uint64_t j = 0; j < 512; ++j) pd[j] = ((i * 512 + j) << 21) | 0x83;  // present, writable, 2 MiB
  }
}

void enter_long_mode(int vcpu) {
  kvm_sregs sregs{};
  ioctl_or_die(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  kvm_segment code{};
  code.limit = 0xffffffff;
  code.selector = 0x8;
  code.present = 1;
  code.type = 11;  // execute/read, accessed
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x10;
  data.type = 3;  // read/write, accessed
  data.l = 0;
  data.db = 1;
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.cr3 = kPml4Addr;
  sregs.cr4 = 1u << 5;                       // PAE
  sregs.cr0 = 0x80000001u | (1u << 4);       // PG, PE, ET
  sregs.efer = (1u << 8) | (1u << 10);       // LME, LMA
  ioctl_or_die(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mem_mib = 128;
  bool real_mode = false;
  Clock clock;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mem-mib" && i + 1 < argc) {
      mem_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--real-mode") {
      real_mode = true;
    } else if (arg == "--timings") {
      clock.enabled = true;
    } else {
      std::fprintf(stderr, "usage: hearth-kvm-floor-probe [--mem-mib N] [--real-mode] [--timings]\n");
      return 2;
    }
  }
  if (mem_mib < 1) mem_mib = 1;
  const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  const int vm = ioctl_or_die(kvm, KVM_CREATE_VM, nullptr, "KVM_CREATE_VM");
  clock.step("KVM_CREATE_VM");
  ioctl_or_die(vm, KVM_SET_TSS_ADDR, reinterpret_cast<void*>(0xfffbd000ul), "KVM_SET_TSS_ADDR");
  ioctl_or_die(vm, KVM_CREATE_IRQCHIP, nullptr, "KVM_CREATE_IRQCHIP");
  clock.step("irqchip");
  kvm_pit_config pit{};
  ioctl_or_die(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
  clock.step("PIT");

  const size_t size = mem_mib * kMib;
  void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) die("mmap");
  auto* mem = static_cast<uint8_t*>(mapped);
  kvm_userspace_memory_region region{};
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  ioctl_or_die(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
  clock.step("memory slot");

  // 64-bit: mov dx, 0x3f8; mov al, 'F'; out dx, al; hlt (real mode: the same without the 0x66 prefix).
  // The hlt is never reached: the probe exits at the byte.
  static const uint8_t kCode[] = {0x66, 0xba, 0xf8, 0x03, 0xb0, 'F', 0xee, 0xf4};
  const size_t skip = real_mode ? 1 : 0;
  std::memcpy(mem + kCodeAddr, kCode + skip, sizeof(kCode) - skip);
  if (!real_mode) write_identity_map(mem);

  const int vcpu = ioctl_or_die(vm, KVM_CREATE_VCPU, nullptr, "KVM_CREATE_VCPU");
  const int run_size = ioctl_or_die(kvm, KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE");
  void* run_map = ::mmap(nullptr, size_t(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run_map == MAP_FAILED) die("mmap of kvm_run");
  auto* run = static_cast<kvm_run*>(run_map);
  if (real_mode) {
    kvm_sregs sregs{};
    ioctl_or_die(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl_or_die(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
  } else {
    enter_long_mode(vcpu);
  }
  kvm_regs regs{};
  regs.rip = kCodeAddr;
  regs.rflags = 0x2;
  ioctl_or_die(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
  clock.step("vCPU + registers");

  for (;;) {
    ioctl_or_die(vcpu, KVM_RUN, nullptr, "KVM_RUN");
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x3f8) {
      const char byte = *(reinterpret_cast<const char*>(run) + run->io.data_offset);
      // Then the test guest's last line, which lifecycle_bench.py times the exit from.
      std::printf("%c\nTESTGUEST PASS\n", byte);
      std::fflush(stdout);
      clock.step("first KVM_RUN to the byte");
      return 0;  // the process exit tears the VM down, as a VMM's would
    } else {
      std::fprintf(stderr, "hearth-kvm-floor-probe: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
  }
}
