// hearth-uffd-handler: an example page-fault handler for the Uffd snapshot memory backend
// (PUT /snapshot/load with mem_backend {"backend_type": "Uffd", "backend_path": <socket>}).
//
// Usage: hearth-uffd-handler [--exit-when-idle] <socket_path> <memory_file>
//
// The protocol is Firecracker's, so this serves Firecracker too:
//   1. The handler listens on a Unix stream socket.
//   2. The VMM maps guest memory anonymously, registers it with a new userfaultfd (MISSING mode),
//      connects, and sends one message: the body is a JSON array of regions
//        [{"base_host_virt_addr":..,"size":..,"offset":..,"page_size":4096,"page_size_kib":4096}, ...]
//      and the userfaultfd rides along as SCM_RIGHTS.
//   3. Each time the guest (or KVM, or the VMM) touches a page not yet there, the faulting thread sleeps
//      and the uffd reports UFFD_EVENT_PAGEFAULT; the handler copies the page from the memory file at
//      offset + (fault address - base_host_virt_addr) with UFFDIO_COPY, which also wakes the thread.
//   4. The VMM keeps its end of the connection open while the VM lives. A uffd never reports a hang-up,
//      so the connection closing is how the handler learns the VM is gone.
//
// One memory file serves any number of VMs (clones of one snapshot): it is mapped read-only once and
// each VM gets private copies of the pages it touches. Everything runs in one poll loop.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/base/mapping.h"
#include "vmm/memory/uffd.h"

namespace hearth {
namespace {

template <typename... Args>
void log(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "hearth-uffd-handler: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

// The snapshot's memory file, mapped once, read-only, shared by every VM served.
struct MemoryFile {
  explicit MemoryFile(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno(fmt::format("opening memory file {}", path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno(fmt::format("fstat of memory file {}", path));
    size = static_cast<uint64_t>(st.st_size);
    if (size == 0) return;  // every page will be zeros
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (addr == MAP_FAILED) throw_errno(fmt::format("mmap of memory file {}", path));
    map = Mapping(addr, size);
  }
  const uint8_t* data() const { return map.data(); }

  uint64_t size = 0;
  Mapping map;
};

// The listening socket; its path is removed when the handler ends.
struct Listener {
  explicit Listener(const std::string& socket_path) : path(socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
      throw Error(fmt::format("socket path '{}' must be 1 to {} bytes long", path, sizeof(addr.sun_path) - 1));
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw_errno(fmt::format("binding {}", path));
    }
    bound = true;
    if (::listen(fd.get(), 64) != 0) throw_errno(fmt::format("listening on {}", path));
  }
  ~Listener() {
    if (bound) ::unlink(path.c_str());
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  std::string path;
  UniqueFd fd;
  bool bound = false;
};

// One VM: its connection, and once it has sent them, its mappings and userfaultfd.
struct Vm {
  int id = 0;
  pid_t pid = 0;
  UniqueFd connection;
  std::string received;  // the mappings message, until it is complete
  UniqueFd uffd;
  std::vector<UffdRegionMapping> mappings;
  // Ranges a balloon discarded (UFFD_EVENT_REMOVE): their contents are gone, so they fault in as zeros.
  std::map<uint64_t, uint64_t> removed;  // start -> end, disjoint
  std::vector<uint64_t> retry;           // faults whose UFFDIO_COPY met EAGAIN
  bool gone = false;
  bool warned_past_file = false;
  uint64_t pages = 0;
  uint64_t bytes = 0;
  uint64_t zero_pages = 0;
  uint64_t remove_events = 0;

  const UffdRegionMapping* mapping_of(uint64_t addr) const {
    for (const auto& m : mappings) {
      if (m.contains(addr)) return &m;
    }
    return nullptr;
  }
  bool is_removed(uint64_t addr) const {
    auto it = removed.upper_bound(addr);
    return it != removed.begin() && addr < std::prev(it)->second;
  }
  void note_removed(uint64_t start, uint64_t end) {
    // Merge with every range it touches.
    auto it = removed.upper_bound(start);
    if (it != removed.begin() && std::prev(it)->second >= start) --it;
    while (it != removed.end() && it->first <= end) {
      start = std::min(start, it->first);
      end = std::max(end, it->second);
      it = removed.erase(it);
    }
    removed[start] = end;
  }
};

class Handler {
 public:
  Handler(const std::string& socket_path, const std::string& memory_path, bool exit_when_idle)
      : file_(memory_path), listener_(socket_path), exit_when_idle_(exit_when_idle) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &stop, nullptr) != 0) throw_errno("sigprocmask");
    signals_ = UniqueFd(::signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signals_) throw_errno("signalfd");
    // Tests and scripts wait for this line before starting a VM.
    fmt::print("hearth-uffd-handler: listening on {}\n", socket_path);
    std::fflush(stdout);
  }

  void run() {
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({signals_.get(), POLLIN, 0});
      fds.push_back({listener_.fd.get(), POLLIN, 0});
      bool retrying = false;
      for (auto& vm : vms_) {
        fds.push_back({vm->connection.get(), POLLIN | POLLRDHUP, 0});
        fds.push_back({vm->uffd ? vm->uffd.get() : -1, POLLIN, 0});  // poll ignores -1
        retrying |= !vm->retry.empty();
      }
      if (::poll(fds.data(), fds.size(), retrying ? 1 : -1) < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll");
      }
      if (fds[0].revents) {
        log("stopping on a signal");
        break;
      }
      if (fds[1].revents & POLLIN) accept_vms();
      for (size_t i = 0; i < vms_.size() && 2 + 2 * i < fds.size(); ++i) {
        Vm& vm = *vms_[i];
        if (vm.uffd && (fds[3 + 2 * i].revents & POLLIN)) serve_events(vm);
        if (!vm.gone) retry_faults(vm);
        if (!vm.gone && fds[2 + 2 * i].revents) read_connection(vm, fds[2 + 2 * i].revents);
      }
      drop_gone_vms();
      if (exit_when_idle_ && served_any_ && vms_.empty()) {
        log("every VM has gone; exiting");
        break;
      }
    }
    for (auto& vm : vms_) report(*vm);
  }

 private:
  void accept_vms() {
    for (;;) {
      UniqueFd conn(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!conn) {
        if (errno != EAGAIN && errno != EINTR) log("accept: {}", std::strerror(errno));
        return;
      }
      auto vm = std::make_unique<Vm>();
      vm->id = ++next_id_;
      // The VMM's pid, for logs; a handler could also kill a VM whose memory it cannot serve.
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) vm->pid = cred.pid;
      vm->connection = std::move(conn);
      vms_.push_back(std::move(vm));
    }
  }

  // Before the mappings: collect the message and the uffd. After: only a hang-up is expected.
  void read_connection(Vm& vm, short revents) {
    char buf[16384];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    for (;;) {
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(vm.connection.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) {
        log("vm {}: reading its connection: {}", vm.id, std::strerror(errno));
        vm.gone = true;
        return;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < count; ++k) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
          UniqueFd owned(fd);  // only the first fd is the uffd; any other is closed
          if (!vm.uffd && vm.mappings.empty()) vm.uffd = std::move(owned);
        }
      }
      if (n == 0) {
        if (vm.mappings.empty()) log("vm {}: connection closed before its mappings arrived", vm.id);
        vm.gone = true;
        return;
      }
      if (!vm.mappings.empty()) {
        log("vm {}: ignoring {} unexpected bytes after the mappings", vm.id, n);
        continue;
      }
      vm.received.append(buf, static_cast<size_t>(n));
      if (nlohmann::json::accept(vm.received)) start_serving(vm);
      if (vm.gone) return;
    }
    if ((revents & (POLLHUP | POLLRDHUP | POLLERR)) && !vm.mappings.empty()) vm.gone = true;
  }

  void start_serving(Vm& vm) {
    try {
      vm.mappings = parse_uffd_mappings_json(vm.received);
    } catch (const Error& e) {
      log("vm {}: bad mappings message: {}", vm.id, e.what());
      vm.gone = true;
      return;
    }
    if (!vm.uffd) {
      log("vm {}: the mappings came without a userfaultfd", vm.id);
      vm.gone = true;
      return;
    }
    // poll() on a blocking uffd reports POLLERR; the flag is shared with the VMM's copy, which is fine.
    int flags = ::fcntl(vm.uffd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(vm.uffd.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
      log("vm {}: making its userfaultfd non-blocking: {}", vm.id, std::strerror(errno));
      vm.gone = true;
      return;
    }
    uint64_t total = 0;
    for (const auto& m : vm.mappings) {
      total += m.size;
      if (m.offset + m.size > file_.size) {
        log("vm {}: region {:#x}+{:#x} reaches past the memory file ({} bytes); those pages will be zeros", vm.id,
            m.base_host_virt_addr, m.size, file_.size);
      }
    }
    served_any_ = true;
    log("vm {}: pid {}, {} regions, {} KiB", vm.id, vm.pid, vm.mappings.size(), total >> 10);
  }

  void serve_events(Vm& vm) {
    uffd_msg msgs[16];
    for (;;) {
      ssize_t n = ::read(vm.uffd.get(), msgs, sizeof(msgs));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) {
        log("vm {}: reading its userfaultfd: {}", vm.id, std::strerror(errno));
        vm.gone = true;
        return;
      }
      for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uffd_msg) && !vm.gone; ++i) {
        const uffd_msg& m = msgs[i];
        switch (m.event) {
          case UFFD_EVENT_PAGEFAULT: serve_fault(vm, m.arg.pagefault.address); break;
          case UFFD_EVENT_REMOVE:  // balloon: MADV_DONTNEED; later faults there get zeros
            vm.note_removed(m.arg.remove.start, m.arg.remove.end);
            ++vm.remove_events;
            break;
          case UFFD_EVENT_UNMAP:
            log("vm {}: {:#x}..{:#x} unmapped", vm.id, m.arg.remove.start, m.arg.remove.end);
            break;
          default: log("vm {}: ignoring userfaultfd event {:#x}", vm.id, m.event); break;
        }
      }
    }
  }

  void retry_faults(Vm& vm) {
    std::vector<uint64_t> pending;
    pending.swap(vm.retry);
    for (uint64_t addr : pending) {
      if (!vm.gone) serve_fault(vm, addr);
    }
  }

  void serve_fault(Vm& vm, uint64_t addr) {
    const UffdRegionMapping* m = vm.mapping_of(addr);
    const uint64_t page = m ? m->page_size : static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t dst = addr & ~(page - 1);
    if (!m) {
      log("vm {}: fault at {:#x} outside every mapping; filling with zeros", vm.id, addr);
      copy_page(vm, addr, dst, zeros(page), page, true);
      return;
    }
    if (vm.is_removed(dst)) {
      copy_page(vm, addr, dst, zeros(page), page, true);
      return;
    }
    const uint64_t at = m->offset + (dst - m->base_host_virt_addr);
    if (at + page <= file_.size) {
      copy_page(vm, addr, dst, file_.data() + at, page, false);
      return;
    }
    // Past the end of the file: what there is, then zeros.
    if (!vm.warned_past_file) {
      log("vm {}: fault at {:#x} is past the memory file's end (file offset {:#x}); zero-filling", vm.id, addr, at);
      vm.warned_past_file = true;
    }
    partial_.assign(page, 0);
    if (at < file_.size) std::memcpy(partial_.data(), file_.data() + at, file_.size - at);
    copy_page(vm, addr, dst, partial_.data(), page, at >= file_.size);
  }

  void copy_page(Vm& vm, uint64_t fault_addr, uint64_t dst, const uint8_t* src, uint64_t len, bool zero) {
    uffdio_copy copy{};
    copy.dst = dst;
    copy.src = reinterpret_cast<uint64_t>(src);
    copy.len = len;
    if (::ioctl(vm.uffd.get(), UFFDIO_COPY, &copy) == 0) {
      ++vm.pages;
      vm.bytes += len;
      vm.zero_pages += zero;
      return;
    }
    switch (errno) {
      case EEXIST: {
        // Already there (two faults on one page, or a racing copy): make sure nobody still sleeps on it.
        uffdio_range range{dst, len};
        ::ioctl(vm.uffd.get(), UFFDIO_WAKE, &range);
        return;
      }
      case EAGAIN:  // the address space is changing (a REMOVE is queued); read events, then try again
        vm.retry.push_back(fault_addr);
        return;
      case ENOENT:  // the range was unmapped meanwhile
        return;
      case ESRCH:  // the VMM process has gone
        vm.gone = true;
        return;
      default:
        log("vm {}: UFFDIO_COPY to {:#x}: {}; dropping the VM", vm.id, dst, std::strerror(errno));
        vm.gone = true;
        return;
    }
  }

  const uint8_t* zeros(uint64_t len) {
    if (zeros_.size() < len) zeros_.assign(len, 0);
    return zeros_.data();
  }

  void drop_gone_vms() {
    for (size_t i = 0; i < vms_.size();) {
      if (vms_[i]->gone) {
        report(*vms_[i]);
        vms_.erase(vms_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }

  static void report(const Vm& vm) {
    fmt::print("vm {}: pages={} bytes={} zero_pages={} remove_events={}\n", vm.id, vm.pages, vm.bytes, vm.zero_pages,
               vm.remove_events);
    std::fflush(stdout);
  }

  MemoryFile file_;
  Listener listener_;
  bool exit_when_idle_;
  UniqueFd signals_;
  std::vector<std::unique_ptr<Vm>> vms_;
  int next_id_ = 0;
  bool served_any_ = false;
  std::vector<uint8_t> zeros_;
  std::vector<uint8_t> partial_;
};

}  // namespace
}  // namespace hearth

int main(int argc, char** argv) {
  bool exit_when_idle = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--exit-when-idle") {
      exit_when_idle = true;
    } else {
      args.push_back(arg);
    }
  }
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: hearth-uffd-handler [--exit-when-idle] <socket_path> <memory_file>\n");
    return 2;
  }
  try {
    hearth::Handler handler(args[0], args[1], exit_when_idle);
    handler.run();
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth-uffd-handler: %s\n", e.what());
    return 1;
  }
  return 0;
}
