// hearth-dirty-log-probe: what the host's KVM offers for dirty logging, and what reading the log costs.
//
// Reports KVM_CHECK_EXTENSION for KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_DIRTY_LOG_RING and
// KVM_CAP_DIRTY_LOG_RING_ACQ_REL (on /dev/kvm and on a VM fd, where the ring is reported), then for each mode
// creates a VM with one memory slot (anonymous mmap, KVM_MEM_LOG_DIRTY_PAGES) and times the log read for the
// whole slot, median of --iterations:
//   classic  KVM_GET_DIRTY_LOG (reads and re-protects in one call)
//   manual   KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2) at VM creation, then KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG
//            over the whole slot (what vmm/kvm/kvm.cpp does each round)
// with the host having touched 0 % and --touch-percent of the slot's pages through the mapping first. Host writes
// through the mapping do not set KVM's dirty bits (a VMM tracks its own writes in its own bitmap); touching makes
// the pages resident, so the slot is as populated as a used guest's. No vCPU runs.
//
// With --guest-pages N, a vCPU (a 32-bit flat guest of 8 bytes of code, paging off) writes N pages spread over the
// slot before each read, so the reads find N dirty bits and re-protect N pages.
//
//   hearth-dirty-log-probe [--mem-mib 1024] [--iterations 20] [--touch-percent 10] [--guest-pages N]
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
#define KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 168
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING
#define KVM_CAP_DIRTY_LOG_RING 192
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif
#ifndef KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE
#define KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (1 << 0)
#endif

namespace {

constexpr uint64_t kPage = 4096;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "hearth-dirty-log-probe: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Stats {
  double median, min, max;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {med, v.front(), v.back()};
}

struct Result {
  Stats get, clear, total;
  uint64_t dirty_bits;
};

// A tiny guest: 32-bit flat protected mode, paging off (as a PVH entry), at 0x1000:
//   1: mov [edi], al; add edi, ebx; dec ecx; jnz 1b; hlt
// writes one byte to `count` pages `stride` apart from 1 MiB up, so KVM sets their dirty bits.
constexpr uint64_t kCodeAddr = 0x1000;
constexpr uint64_t kFirstPage = 0x100000;
const uint8_t kCode[] = {0x88, 0x07, 0x01, 0xdf, 0x49, 0x75, 0xf9, 0xf4};

struct Guest {
  int vcpu = -1;
  kvm_run* run = nullptr;
};

Guest make_guest(int kvm, int vm, void* mem) {
  std::memcpy(static_cast<uint8_t*>(mem) + kCodeAddr, kCode, sizeof kCode);
  (void)::ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
  Guest g;
  g.vcpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
  if (g.vcpu < 0) die("KVM_CREATE_VCPU");
  const int size = ::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");
  void* r = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, g.vcpu, 0);
  if (r == MAP_FAILED) die("mmap vcpu");
  g.run = static_cast<kvm_run*>(r);
  kvm_sregs sregs{};
  if (::ioctl(g.vcpu, KVM_GET_SREGS, &sregs) != 0) die("KVM_GET_SREGS");
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x10;
  code.type = 0xb;
  code.present = 1;
  code.s = 1;
  code.db = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x18;
  data.type = 0x3;
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  kvm_segment tr{};
  tr.selector = 0x20;
  tr.limit = 0x67;
  tr.type = 0xb;
  tr.present = 1;
  sregs.tr = tr;
  sregs.cr0 = (sregs.cr0 & ~((1UL << 29) | (1UL << 30) | (1UL << 31))) | 0x1 | 0x10;
  sregs.cr3 = sregs.cr4 = sregs.efer = 0;
  if (::ioctl(g.vcpu, KVM_SET_SREGS, &sregs) != 0) die("KVM_SET_SREGS");
  return g;
}

// Runs the guest once over `count` pages; returns the wall time in microseconds.
double run_guest(const Guest& g, uint64_t count, uint64_t stride) {
  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = kCodeAddr;
  regs.rdi = kFirstPage;
  regs.rbx = stride * kPage;
  regs.rcx = count;
  regs.rax = 1;
  if (::ioctl(g.vcpu, KVM_SET_REGS, &regs) != 0) die("KVM_SET_REGS");
  const double t0 = now_us();
  for (;;) {
    if (::ioctl(g.vcpu, KVM_RUN, 0) != 0) {
      if (errno == EINTR) continue;
      die("KVM_RUN");
    }
    if (g.run->exit_reason == KVM_EXIT_HLT) break;
    std::fprintf(stderr, "hearth-dirty-log-probe: guest exit %u\n", g.run->exit_reason);
    std::exit(1);
  }
  return now_us() - t0;
}

// One VM, one slot over `mem`, the chosen mode; `iterations` timed reads of the whole slot's log. With
// guest_pages, a vCPU dirties that many pages before each read.
Result measure(int kvm, void* mem, uint64_t bytes, bool manual, int iterations, uint64_t guest_pages = 0,
               double* guest_us = nullptr) {
  const int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  if (manual) {
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
    cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;  // as Hearth: not INITIALLY_SET
    if (::ioctl(vm, KVM_ENABLE_CAP, &cap) != 0) die("KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)");
  }
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.flags = KVM_MEM_LOG_DIRTY_PAGES;
  region.guest_phys_addr = 0;
  region.memory_size = bytes;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) != 0) die("KVM_SET_USER_MEMORY_REGION");

  const uint64_t pages = bytes / kPage;
  std::vector<uint64_t> bitmap((pages + 63) / 64);
  std::vector<double> get_us, clear_us, total_us, run_us;
  uint64_t dirty = 0;
  Guest guest;
  uint64_t stride = 1;
  if (guest_pages) {
    guest = make_guest(kvm, vm, mem);
    stride = std::max<uint64_t>(1, (pages - kFirstPage / kPage) / guest_pages);
    run_guest(guest, guest_pages, stride);  // first touches (faults) left out
    kvm_dirty_log log{};
    log.slot = 0;
    log.dirty_bitmap = bitmap.data();
    if (::ioctl(vm, KVM_GET_DIRTY_LOG, &log) != 0) die("KVM_GET_DIRTY_LOG");
    if (manual) {
      kvm_clear_dirty_log clear{};
      clear.slot = 0;
      clear.num_pages = static_cast<uint32_t>(pages);
      clear.dirty_bitmap = bitmap.data();
      if (::ioctl(vm, KVM_CLEAR_DIRTY_LOG, &clear) != 0) die("KVM_CLEAR_DIRTY_LOG");
    }
  }
  for (int i = 0; i < iterations; ++i) {
    if (guest_pages) run_us.push_back(run_guest(guest, guest_pages, stride));
    std::fill(bitmap.begin(), bitmap.end(), 0);
    kvm_dirty_log log{};
    log.slot = 0;
    log.dirty_bitmap = bitmap.data();
    const double t0 = now_us();
    if (::ioctl(vm, KVM_GET_DIRTY_LOG, &log) != 0) die("KVM_GET_DIRTY_LOG");
    const double t1 = now_us();
    double t2 = t1;
    if (manual) {
      kvm_clear_dirty_log clear{};
      clear.slot = 0;
      clear.first_page = 0;
      clear.num_pages = static_cast<uint32_t>(pages);
      clear.dirty_bitmap = bitmap.data();
      if (::ioctl(vm, KVM_CLEAR_DIRTY_LOG, &clear) != 0) die("KVM_CLEAR_DIRTY_LOG");
      t2 = now_us();
    }
    for (uint64_t w : bitmap) dirty += static_cast<uint64_t>(__builtin_popcountll(w));
    get_us.push_back(t1 - t0);
    clear_us.push_back(t2 - t1);
    total_us.push_back(t2 - t0);
  }
  if (guest_pages && guest_us) *guest_us = stats(run_us).median;
  if (guest.run) ::munmap(guest.run, static_cast<size_t>(::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)));
  if (guest.vcpu >= 0) ::close(guest.vcpu);
  ::close(vm);
  return {stats(get_us), stats(clear_us), stats(total_us), dirty / static_cast<uint64_t>(iterations)};
}

std::string cell(const Stats& s) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f [%.1f..%.1f]", s.median, s.min, s.max);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mem_mib = 1024;
  int iterations = 20;
  int touch_percent = 10;
  uint64_t guest_pages = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mem-mib" && i + 1 < argc) {
      mem_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--iterations" && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
    } else if (a == "--touch-percent" && i + 1 < argc) {
      touch_percent = std::atoi(argv[++i]);
    } else if (a == "--guest-pages" && i + 1 < argc) {
      guest_pages = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--mem-mib N] [--iterations N] [--touch-percent P] [--guest-pages N]\n", argv[0]);
      return 2;
    }
  }
  if (mem_mib == 0 || iterations <= 0 || touch_percent < 0 || touch_percent > 100) {
    std::fprintf(stderr, "hearth-dirty-log-probe: bad arguments\n");
    return 2;
  }

  const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  const int probe_vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
  if (probe_vm < 0) die("KVM_CREATE_VM");
  struct Cap {
    const char* name;
    int id;
  } caps[] = {{"KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2},
              {"KVM_CAP_DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING},
              {"KVM_CAP_DIRTY_LOG_RING_ACQ_REL", KVM_CAP_DIRTY_LOG_RING_ACQ_REL}};
  std::printf("KVM API version %d\n", ::ioctl(kvm, KVM_GET_API_VERSION, 0));
  std::printf("%-36s %12s %12s\n", "KVM_CHECK_EXTENSION", "/dev/kvm", "VM fd");
  bool manual_ok = false;
  for (const Cap& c : caps) {
    const int sys = ::ioctl(kvm, KVM_CHECK_EXTENSION, c.id);
    const int vmv = ::ioctl(probe_vm, KVM_CHECK_EXTENSION, c.id);
    std::printf("%-36s %12d %12d\n", c.name, sys, vmv);
    if (c.id == KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) manual_ok = (vmv > 0 && (vmv & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE));
  }
  std::printf("(the dirty ring's value is its largest size in bytes; 0: not offered)\n");
  ::close(probe_vm);

  const uint64_t bytes = mem_mib << 20;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) die("mmap");

  std::printf("\n%llu MiB slot (%llu pages), median [min..max] of %d reads, microseconds\n",
              static_cast<unsigned long long>(mem_mib), static_cast<unsigned long long>(bytes / kPage), iterations);
  std::printf("| host-touched pages | mode | KVM_GET_DIRTY_LOG | KVM_CLEAR_DIRTY_LOG | per round | dirty bits |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  const int touches[] = {0, touch_percent};
  uint64_t touched_pages = 0;
  for (int pct : touches) {
    // Touch every (100/pct)-th page so `pct` % of the slot is resident and written through the mapping.
    const uint64_t pages = bytes / kPage;
    const uint64_t want = pages * static_cast<uint64_t>(pct) / 100;
    if (want > touched_pages) {
      const uint64_t stride = want ? pages / want : 0;
      for (uint64_t p = 0; stride && p < pages && touched_pages < want; p += stride, ++touched_pages)
        static_cast<volatile uint8_t*>(mem)[p * kPage] = 1;
    }
    for (bool manual : {false, true}) {
      if (manual && !manual_ok) {
        std::printf("| %d %% | manual | not offered | | | |\n", pct);
        continue;
      }
      const Result r = measure(kvm, mem, bytes, manual, iterations);
      std::printf("| %d %% (%llu) | %s | %s | %s | %s | %llu |\n", pct, static_cast<unsigned long long>(touched_pages),
                  manual ? "manual protect (GET + CLEAR)" : "classic (GET)", cell(r.get).c_str(),
                  manual ? cell(r.clear).c_str() : "-", cell(r.total).c_str(),
                  static_cast<unsigned long long>(r.dirty_bits));
    }
  }
  if (guest_pages) {
    std::printf("\nwith a vCPU writing %llu pages (spread over the slot) before each read\n",
                static_cast<unsigned long long>(guest_pages));
    std::printf("| mode | KVM_GET_DIRTY_LOG | KVM_CLEAR_DIRTY_LOG | per round | dirty bits per read | guest run (median) |\n");
    std::printf("| --- | --- | --- | --- | --- | --- |\n");
    for (bool manual : {false, true}) {
      if (manual && !manual_ok) continue;
      double run_us = 0;
      const Result r = measure(kvm, mem, bytes, manual, iterations, guest_pages, &run_us);
      std::printf("| %s | %s | %s | %s | %llu | %.0f |\n", manual ? "manual protect (GET + CLEAR)" : "classic (GET)",
                  cell(r.get).c_str(), manual ? cell(r.clear).c_str() : "-", cell(r.total).c_str(),
                  static_cast<unsigned long long>(r.dirty_bits), run_us);
    }
  }
  ::munmap(mem, bytes);
  ::close(kvm);
  return 0;
}
