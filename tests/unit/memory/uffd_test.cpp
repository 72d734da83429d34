#include "vmm/memory/uffd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/error_of.h"
#include "vmm/base/error.h"
#include "vmm/kvm/kvm.h"

namespace hearth {
namespace {

using test::error_of;

// ---- The mappings message ----

TEST(UffdMappingsJson, WritesFirecrackersFieldsInOrder) {
  std::string json = uffd_mappings_json({{0x7f0000000000, 0x10000, 0, 4096}, {0x7f0000100000, 0x8000, 0x18000, 4096}});
  EXPECT_EQ(json,
            "[{\"base_host_virt_addr\":139637976727552,\"size\":65536,\"offset\":0,\"page_size\":4096,"
            "\"page_size_kib\":4096},"
            "{\"base_host_virt_addr\":139637977776128,\"size\":32768,\"offset\":98304,\"page_size\":4096,"
            "\"page_size_kib\":4096}]");
  auto back = parse_uffd_mappings_json(json);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].base_host_virt_addr, 0x7f0000100000u);
  EXPECT_EQ(back[1].size, 0x8000u);
  EXPECT_EQ(back[1].offset, 0x18000u);
  EXPECT_EQ(back[1].page_size, 4096u);
  EXPECT_EQ(uffd_mappings_json(back), json);
}

TEST(UffdMappingsJson, ReadsEveryFirecrackerVersionsForm) {
  // Current Firecracker (both fields, bytes), its example handler's own test, 1.7-1.x (page_size_kib, bytes
  // despite the name: 2 MiB hugetlbfs pages here) and <= 1.6 (no page size at all).
  auto current = parse_uffd_mappings_json(
      R"([{"base_host_virt_addr":140097300414464,"size":134217728,"offset":0,"page_size":4096,"page_size_kib":4096}])");
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].base_host_virt_addr, 140097300414464u);
  EXPECT_EQ(current[0].size, 134217728u);
  EXPECT_EQ(current[0].page_size, 4096u);
  EXPECT_EQ(parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"size":4096,"offset":0,"page_size":4096}])")[0].size,
            4096u);
  auto v17 = parse_uffd_mappings_json(
      R"([{"base_host_virt_addr":140093981458432,"size":134217728,"offset":0,"page_size_kib":2097152},)"
      R"({"base_host_virt_addr":140094115676160,"size":2097152,"offset":134217728,"page_size_kib":2097152}])");
  ASSERT_EQ(v17.size(), 2u);
  EXPECT_EQ(v17[0].page_size, 2097152u);
  EXPECT_EQ(v17[1].offset, 134217728u);
  auto v16 = parse_uffd_mappings_json(R"([{"base_host_virt_addr":140097300414464,"size":134217728,"offset":0}])");
  EXPECT_EQ(v16[0].page_size, 4096u);
}

TEST(UffdMappingsJson, ErrorsNameTheField) {
  EXPECT_EQ(error_of([] { parse_uffd_mappings_json(R"({"size":1})"); }),
            "uffd mappings: expected an array, got object");
  EXPECT_EQ(error_of([] { parse_uffd_mappings_json("[]"); }), "uffd mappings: no regions");
  EXPECT_EQ(error_of([] { parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"offset":0}])"); }),
            "uffd mappings[0]: missing required field 'size'");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(
                  R"([{"base_host_virt_addr":0,"size":4096,"offset":0},{"base_host_virt_addr":4096,"size":4096,"offset":"0"}])");
            }),
            "uffd mappings[1].offset: expected an unsigned integer, got string");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"size":12288,"offset":0,"page_size":3072}])");
            }),
            "uffd mappings[0].page_size: must be a power of two of at least 4096 (bytes), got 3072");
  // page_size_kib holds bytes: a KiB count (4) is refused rather than taken as 4-byte pages.
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"size":4096,"offset":0,"page_size_kib":4}])");
            }),
            "uffd mappings[0].page_size_kib: must be a power of two of at least 4096 (bytes), got 4");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(
                  R"([{"base_host_virt_addr":0,"size":4096,"offset":0,"page_size":4096,"page_size_kib":4}])");
            }),
            "uffd mappings[0].page_size: 4096 differs from page_size_kib 4 (both are bytes)");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(R"([{"base_host_virt_addr":100,"size":4096,"offset":0}])");
            }),
            "uffd mappings[0].base_host_virt_addr: region 0x64+0x1000 is not aligned to its page size 0x1000");
  EXPECT_EQ(error_of([] { parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"size":0,"offset":0}])"); }),
            "uffd mappings[0].size: must be between 1 and 18446744073709551615, got 0");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(R"([{"base_host_virt_addr":0,"size":4096,"offset":0,"pagesize":4096}])");
            }),
            "uffd mappings[0]: unknown field 'pagesize'");
  EXPECT_EQ(error_of([] {
              parse_uffd_mappings_json(
                  R"([{"base_host_virt_addr":0,"size":4096,"offset":18446744073709547520}])");
            }),
            "uffd mappings[0].offset: offset + size overflows");
  EXPECT_NE(error_of([] { parse_uffd_mappings_json("[{"); }).find("uffd mappings: invalid JSON"), std::string::npos);
}

// ---- Fixtures for the handler ----

// Why this host cannot run userfaultfd tests, or nullopt when it can.
std::optional<std::string> uffd_unavailable() {
  try {
    UniqueFd fd = create_userfaultfd();
    uffdio_api api{};
    api.api = UFFD_API;
    if (::ioctl(fd.get(), UFFDIO_API, &api) != 0) return std::string("UFFDIO_API: ") + std::strerror(errno);
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

#define SKIP_WITHOUT_UFFD()                                                                    \
  do {                                                                                         \
    if (auto why = uffd_unavailable()) GTEST_SKIP() << "userfaultfd unavailable here: " << *why; \
  } while (0)

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/hearth-uffd-XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno("mkdtemp");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// The 32-bit word at file offset `at` of the test memory files: names its own offset, so a page copied
// from the wrong place is caught.
uint32_t pattern_word(uint64_t at) { return 0xA5000000u ^ static_cast<uint32_t>(at); }

constexpr uint64_t kFileSize = 0x20000;
void write_pattern_file(const std::string& path, uint64_t size = kFileSize) {
  std::vector<uint32_t> words(size / 4);
  for (size_t i = 0; i < words.size(); ++i) words[i] = pattern_word(i * 4);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::write(fd.get(), words.data(), size), static_cast<ssize_t>(size));
}

// hearth-uffd-handler as a child: started and waited for its "listening" line; killed and reaped at the end.
class HandlerProcess {
 public:
  HandlerProcess(const std::string& socket, const std::string& memory_file, bool exit_when_idle = false) {
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<const char*> argv = {HEARTH_UFFD_HANDLER};
    if (exit_when_idle) argv.push_back("--exit-when-idle");
    argv.push_back(socket.c_str());
    argv.push_back(memory_file.c_str());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
    UniqueFd read_end(out[0]), write_end(out[1]);
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      ::dup2(write_end.get(), STDOUT_FILENO);
      ::execv(argv[0], const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    out_ = std::move(read_end);
    write_end.reset();
    const std::string ready = "hearth-uffd-handler: listening on " + socket + "\n";
    while (output_.find(ready) == std::string::npos) {
      if (!read_some(std::chrono::seconds(10))) {
        kill_and_reap();  // the destructor does not run for a constructor that throws
        throw Error("hearth-uffd-handler did not start: " + output_);
      }
    }
  }
  ~HandlerProcess() { kill_and_reap(); }
  HandlerProcess(const HandlerProcess&) = delete;
  HandlerProcess& operator=(const HandlerProcess&) = delete;

  // SIGTERM, then the exit status once it has gone (or -1 after the timeout).
  int stop() {
    ::kill(pid_, SIGTERM);
    return wait(std::chrono::seconds(10));
  }
  // Waits for the child to exit by itself; its wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        while (read_some(std::chrono::milliseconds(100))) {
        }
        return status;
      }
      read_some(std::chrono::milliseconds(20));
    }
    return -1;
  }
  const std::string& output() const { return output_; }

 private:
  void kill_and_reap() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  bool read_some(std::chrono::milliseconds timeout) {
    pollfd p{out_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(out_.get(), buf, sizeof(buf));
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  UniqueFd out_;
  std::string output_;
};

// Guest RAM 0..64 KiB from file offset 0, and 1 MiB..+32 KiB from file offset 96 KiB (a gap between).
const std::vector<GuestRange> kRanges = {{0, 0x10000}, {0x100000, 0x8000}};
const std::vector<uint64_t> kOffsets = {0, 0x18000};

uint64_t file_offset_of(uint64_t guest_addr) {
  return guest_addr >= 0x100000 ? kOffsets[1] + (guest_addr - 0x100000) : guest_addr;
}

// Reads every word of both regions through GuestMemory and compares it with the file's pattern.
void expect_pattern(const GuestMemory& mem) {
  for (const auto& r : kRanges) {
    std::vector<uint32_t> words(r.size / 4);
    mem.read(r.start, std::span(reinterpret_cast<uint8_t*>(words.data()), r.size));
    for (size_t i = 0; i < words.size(); ++i) {
      ASSERT_EQ(words[i], pattern_word(file_offset_of(r.start + i * 4))) << "guest address " << r.start + i * 4;
    }
  }
}

class UffdHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_UFFD();
    socket_ = dir_ / "handler.sock";
    memory_file_ = dir_ / "memory";
    write_pattern_file(memory_file_);
  }
  TempDir dir_;
  std::string socket_;
  std::string memory_file_;
};

TEST_F(UffdHandlerTest, MissingSocketNamesWhatAndPath) {
  auto mem = GuestMemory::create_anonymous(kRanges);
  std::string missing = dir_ / "nobody.sock";
  EXPECT_EQ(error_of([&] { connect_uffd_backend(mem, kOffsets, missing, "mem_backend.backend_path"); }),
            "mem_backend.backend_path: no page-fault handler socket at " + missing + " (is the handler running?)");
  // A file that is no listening socket.
  EXPECT_EQ(error_of([&] { connect_uffd_backend(mem, kOffsets, memory_file_, "mem_backend.backend_path"); }),
            "mem_backend.backend_path: the page-fault handler socket " + memory_file_ +
                " refused the connection (nothing listens)");
  EXPECT_EQ(error_of([&] { connect_uffd_backend(mem, {0}, missing, "mem_backend.backend_path"); }),
            "mem_backend.backend_path: 1 file offsets for 2 memory regions");
}

TEST_F(UffdHandlerTest, ServesBothRegionsFromTheirFileOffsetsOncePerPage) {
  HandlerProcess handler(socket_, memory_file_);
  {
    auto mem = GuestMemory::create_anonymous(kRanges);
    UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
    expect_pattern(mem);
    expect_pattern(mem);  // every page a second time: already present, no new fault
  }
  int status = handler.stop();
  ASSERT_TRUE(WIFEXITED(status)) << handler.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // 16 + 8 pages, each served exactly once.
  EXPECT_NE(handler.output().find("vm 1: pages=24 bytes=98304 zero_pages=0"), std::string::npos) << handler.output();
}

TEST_F(UffdHandlerTest, WritesAfterTheFaultStayPrivate) {
  HandlerProcess handler(socket_, memory_file_);
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  ASSERT_EQ(mem.read_obj<uint32_t>(0x1000), pattern_word(0x1000));
  mem.write_obj<uint32_t>(0x1000, 0xdeadbeef);  // a page already served
  mem.write_obj<uint32_t>(0x100ffc, 0xfeedface);  // first touch is a write: served, then written
  EXPECT_EQ(mem.read_obj<uint32_t>(0x1000), 0xdeadbeefu);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x1004), pattern_word(0x1004));
  EXPECT_EQ(mem.read_obj<uint32_t>(0x100ffc), 0xfeedfaceu);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x100ff8), pattern_word(0x18ff8));
  // The memory file is untouched.
  UniqueFd file(::open(memory_file_.c_str(), O_RDONLY | O_CLOEXEC));
  uint32_t word = 0;
  ASSERT_EQ(::pread(file.get(), &word, 4, 0x1000), 4);
  EXPECT_EQ(word, pattern_word(0x1000));
  ASSERT_EQ(::pread(file.get(), &word, 4, 0x18ffc), 4);
  EXPECT_EQ(word, pattern_word(0x18ffc));
}

TEST_F(UffdHandlerTest, KernelAccessesAreServedToo) {
  // write(2) from guest memory makes the kernel fault on the page (copy_from_user), as KVM and io_uring do.
  HandlerProcess handler(socket_, memory_file_);
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd rd(p[0]), wr(p[1]);
  auto view = mem.view(0x100000 + 0x2000, 4096);
  ASSERT_TRUE(view.has_value());
  ASSERT_EQ(::write(wr.get(), view->data(), 4096), 4096);
  std::vector<uint32_t> got(1024);
  ASSERT_EQ(::read(rd.get(), got.data(), 4096), 4096);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], pattern_word(0x18000 + 0x2000 + i * 4)) << i;
}

TEST_F(UffdHandlerTest, ServesClonesAtOnceEachWithItsOwnWrites) {
  HandlerProcess handler(socket_, memory_file_);
  auto a = GuestMemory::create_anonymous(kRanges);
  auto b = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend_a = connect_uffd_backend(a, kOffsets, socket_, "mem_backend.backend_path");
  UffdBackend backend_b = connect_uffd_backend(b, kOffsets, socket_, "mem_backend.backend_path");
  // Interleaved first touches from two threads, one per clone.
  std::thread ta([&] { expect_pattern(a); });
  std::thread tb([&] { expect_pattern(b); });
  ta.join();
  tb.join();
  a.write_obj<uint32_t>(0x3000, 0xaaaaaaaa);
  b.write_obj<uint32_t>(0x3000, 0xbbbbbbbb);
  b.write_obj<uint32_t>(0x104000, 0xbbbbbbbb);
  EXPECT_EQ(a.read_obj<uint32_t>(0x3000), 0xaaaaaaaau);
  EXPECT_EQ(b.read_obj<uint32_t>(0x3000), 0xbbbbbbbbu);
  EXPECT_EQ(a.read_obj<uint32_t>(0x104000), pattern_word(0x1c000));
  EXPECT_EQ(b.read_obj<uint32_t>(0x104000), 0xbbbbbbbbu);
  backend_a = {};
  backend_b = {};
  int status = handler.stop();
  ASSERT_TRUE(WIFEXITED(status)) << handler.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(handler.output().find("vm 1: pages=24 "), std::string::npos) << handler.output();
  EXPECT_NE(handler.output().find("vm 2: pages=24 "), std::string::npos) << handler.output();
}

TEST_F(UffdHandlerTest, ExitsWhenIdleOnceEveryVmHasGone) {
  HandlerProcess handler(socket_, memory_file_, /*exit_when_idle=*/true);
  {
    auto mem = GuestMemory::create_anonymous(kRanges);
    UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
    EXPECT_EQ(mem.read_obj<uint32_t>(0x100000), pattern_word(0x18000));
  }
  // Closing the connection ends the VM; with no VM left the handler exits by itself.
  int status = handler.wait(std::chrono::seconds(10));
  ASSERT_NE(status, -1) << "still running: " << handler.output();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(handler.output().find("vm 1: pages=1 bytes=4096 "), std::string::npos) << handler.output();
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(UffdHandlerTest, PagesPastTheFileAreZerosAndTheHandlerCarriesOn) {
  // The second region reaches 8 KiB past the end of a 120 KiB file: its last two pages are zeros.
  write_pattern_file(memory_file_, 0x1e000);
  HandlerProcess handler(socket_, memory_file_);
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  EXPECT_EQ(mem.read_obj<uint32_t>(0x106000), 0u);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x107ffc), 0u);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x105ffc), pattern_word(0x1dffc));
  EXPECT_EQ(mem.read_obj<uint32_t>(0x0), pattern_word(0));
  backend = {};
  int status = handler.stop();
  ASSERT_TRUE(WIFEXITED(status)) << handler.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(handler.output().find("vm 1: pages=4 bytes=16384 zero_pages=2"), std::string::npos) << handler.output();
}

TEST_F(UffdHandlerTest, DiscardedPagesComeBackAsZeros) {
  // A balloon's MADV_DONTNEED raises UFFD_EVENT_REMOVE; the handler must not bring the old contents back.
  HandlerProcess handler(socket_, memory_file_);
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  ASSERT_EQ(mem.read_obj<uint32_t>(0x5000), pattern_word(0x5000));
  auto page = mem.slice(0x5000, 0x1000);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(::madvise(page->data(), 0x1000, MADV_DONTNEED), 0);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x5000), 0u);
  EXPECT_EQ(mem.read_obj<uint32_t>(0x6000), pattern_word(0x6000));
  backend = {};
  int status = handler.stop();
  ASSERT_TRUE(WIFEXITED(status)) << handler.output();
  EXPECT_NE(handler.output().find("vm 1: pages=3 bytes=12288 zero_pages=1 remove_events=1"), std::string::npos)
      << handler.output();
}

// A raw client of the handler's socket, for messages no VMM would send.
UniqueFd connect_raw(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) throw_errno("connect");
  return sock;
}

TEST_F(UffdHandlerTest, BadClientsAreDroppedAndOthersStillServed) {
  HandlerProcess handler(socket_, memory_file_);
  {
    UniqueFd garbage = connect_raw(socket_);
    ASSERT_EQ(::send(garbage.get(), "[1, 2]", 6, MSG_NOSIGNAL), 6);
    UniqueFd no_fd = connect_raw(socket_);
    std::string json = uffd_mappings_json({{0x7f0000000000, 0x1000, 0, 4096}});
    ASSERT_EQ(::send(no_fd.get(), json.data(), json.size(), MSG_NOSIGNAL), static_cast<ssize_t>(json.size()));
    UniqueFd silent = connect_raw(socket_);
  }
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  EXPECT_TRUE(backend.uffd.valid());
  expect_pattern(mem);
  int status = handler.stop();
  ASSERT_TRUE(WIFEXITED(status)) << handler.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(handler.output().find("vm 4: pages=24 "), std::string::npos) << handler.output();
}

TEST_F(UffdHandlerTest, KvmGuestFetchesCodeAndDataThroughTheHandler) {
  std::optional<kvm::Kvm> kvm;
  try {
    kvm.emplace();
  } catch (const Error& e) {
    GTEST_SKIP() << "KVM unavailable here: " << e.what();
  }
  // Real-mode code at 0x1000 of the file: mov al, [0x2003]; out 0x10, al; hlt.
  {
    UniqueFd fd(::open(memory_file_.c_str(), O_WRONLY | O_CLOEXEC));
    const uint8_t code[] = {0xA0, 0x03, 0x20, 0xE6, 0x10, 0xF4};
    ASSERT_EQ(::pwrite(fd.get(), code, sizeof(code), 0x1000), static_cast<ssize_t>(sizeof(code)));
  }
  HandlerProcess handler(socket_, memory_file_);
  auto mem = GuestMemory::create_anonymous(kRanges);
  UffdBackend backend = connect_uffd_backend(mem, kOffsets, socket_, "mem_backend.backend_path");
  kvm::Vm vm = kvm->create_vm();
  vm.set_tss_addr(0xfffbd000);
  for (uint32_t slot = 0; slot < mem.regions().size(); ++slot) {
    const auto& r = mem.regions()[slot];
    vm.set_user_memory_region(slot, r.range.start, r.range.size, r.mapping.data());
  }
  kvm::Vcpu vcpu = vm.create_vcpu(0);
  kvm_sregs sregs = vcpu.get_sregs();
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  sregs.ds.base = 0;
  sregs.ds.selector = 0;
  vcpu.set_sregs(sregs);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 2;
  vcpu.set_regs(regs);
  // KVM faults the pages in itself (get_user_pages), never touching them from this thread first.
  ASSERT_TRUE(vcpu.run());
  kvm_run* run = vcpu.run_struct();
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO) << run->exit_reason;
  EXPECT_EQ(run->io.port, 0x10);
  uint8_t out = *(reinterpret_cast<uint8_t*>(run) + run->io.data_offset);
  EXPECT_EQ(out, pattern_word(0x2000) >> 24);  // 0xA5: from the file, not a zero page
  ASSERT_TRUE(vcpu.run());
  EXPECT_EQ(run->exit_reason, KVM_EXIT_HLT);
}

}  // namespace
}  // namespace hearth
