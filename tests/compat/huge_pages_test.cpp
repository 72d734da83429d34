// machine-config.huge_pages: validation at PUT, the guest on 2 MiB hugetlbfs pages, the short-pool error at
// InstanceStart (API and config file), and Firecracker's snapshot rule (a "2M" snapshot needs Uffd).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

using nlohmann::json;

constexpr const char* kPool = "/sys/kernel/mm/hugepages/hugepages-2048kB";
constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  uint64_t v = 0;
  in >> v;
  return v;
}

bool write_number(const std::string& path, uint64_t value) {
  std::ofstream out(path);
  out << value << "\n";
  out.flush();
  return static_cast<bool>(out);
}

// Pages of the pool neither in use nor promised to a mapping (what hearth checks).
uint64_t free_pages() {
  const uint64_t free = read_number(std::string(kPool) + "/free_hugepages");
  const uint64_t reserved = read_number(std::string(kPool) + "/resv_hugepages");
  return free > reserved ? free - reserved : 0;
}

// Grows the host's 2 MiB pool until `pages` are free and puts nr_hugepages back on destruction, even when
// the test fails. ok() is false (with why()) where pages cannot be reserved: not root, fragmented memory.
// ctest runs these tests in parallel: a lock file keeps one pool user at a time, so counts stay exact.
class HugePagePool {
 public:
  explicit HugePagePool(uint64_t pages)
      : lock_(::open("/tmp/hearth-test-hugepages.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)),
        locked_(lock_ >= 0 && ::flock(lock_, LOCK_EX) == 0),
        old_(read_number(kNrHugepages)) {
    if (!locked_) {
      why_ = "cannot lock /tmp/hearth-test-hugepages.lock";
      return;
    }
    const uint64_t have = free_pages();
    if (have >= pages) return;
    if (!write_number(kNrHugepages, old_ + (pages - have))) {
      why_ = std::string("cannot write ") + kNrHugepages + " (needs root)";
      return;
    }
    changed_ = true;
    if (free_pages() < pages) {
      why_ = "the kernel reserved only " + std::to_string(free_pages()) + " of " + std::to_string(pages) +
             " free 2 MiB pages";
    }
  }
  ~HugePagePool() {
    if (changed_) write_number(kNrHugepages, old_);
    if (lock_ >= 0) ::close(lock_);  // releases the flock
  }
  HugePagePool(const HugePagePool&) = delete;
  HugePagePool& operator=(const HugePagePool&) = delete;
  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }

 private:
  int lock_;
  bool locked_;
  uint64_t old_;
  bool changed_ = false;
  std::string why_;
};

// Sum of one smaps field (kB) over the process's mappings whose KernelPageSize is 2048 kB (hugetlb).
uint64_t hugetlb_kib(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  uint64_t total = 0;
  uint64_t value = 0;
  bool huge = false;
  auto end_mapping = [&] {
    if (huge) total += value;
    value = 0;
    huge = false;
  };
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    const size_t space = line.find(' ');
    // A mapping's header ("start-end perms ...") has a space before any colon.
    if (space != std::string::npos && (colon == std::string::npos || space < colon)) {
      end_mapping();
      continue;
    }
    if (line.rfind("KernelPageSize:", 0) == 0) huge = line.find(" 2048 kB") != std::string::npos;
    if (line.rfind(field + ":", 0) == 0) value = std::stoull(line.substr(field.size() + 1));
  }
  end_mapping();
  return total;
}

struct ApiVm {
  explicit ApiVm(const TempDir& dir, int timeout_ms = 60000) : socket((dir.path() / "api.sock").string()) {
    ProcessOptions o;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    process = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{hearth_binary(), "--api-sock", socket, "--no-seccomp"}, o);
    EXPECT_TRUE(wait_for_socket(socket, 10000));
    api = std::make_unique<ApiClient>(socket);
  }
  std::string socket;
  std::unique_ptr<BackgroundProcess> process;
  std::unique_ptr<ApiClient> api;
};

std::string fault(const HttpReply& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("fault_message") ? j["fault_message"].get<std::string>() : "";
}

TEST(HugePages, PutValidatesTheValueAndTheMemorySizeAndChangesNothingOnError) {
  TempDir dir;
  ApiVm vm(dir);
  HttpReply r = vm.api->put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64, "huge_pages": "1G"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("machine-config.huge_pages"), std::string::npos) << r.body;
  EXPECT_NE(fault(r).find(R"("None", "Transparent", "2M")"), std::string::npos) << r.body;
  r = vm.api->put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 65, "huge_pages": "2M"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("machine-config.mem_size_mib: must be a multiple of 2 with huge_pages \"2M\", got 65"),
            std::string::npos) << r.body;
  r = vm.api->put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64, "huge_pages": 2})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("machine-config.huge_pages"), std::string::npos) << r.body;
  // Nothing of the refused bodies landed.
  json m = json::parse(vm.api->get("/machine-config").body);
  EXPECT_EQ(m["mem_size_mib"], 128);
  EXPECT_EQ(m["huge_pages"], "None");

  EXPECT_EQ(vm.api->put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64, "huge_pages": "2M"})").status, 204);
  EXPECT_EQ(json::parse(vm.api->get("/machine-config").body)["huge_pages"], "2M");
  // PATCH keeps the merged result valid: an odd size under "2M" is refused, and so is "Transparent" on 63.
  r = vm.api->patch("/machine-config", R"({"mem_size_mib": 63})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("multiple of 2"), std::string::npos) << r.body;
  EXPECT_EQ(vm.api->patch("/machine-config", R"({"huge_pages": "None"})").status, 204);
  EXPECT_EQ(vm.api->patch("/machine-config", R"({"mem_size_mib": 63})").status, 204);
  r = vm.api->patch("/machine-config", R"({"huge_pages": "Transparent"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("huge_pages \"Transparent\", got 63"), std::string::npos) << r.body;
  // Dirty tracking on huge pages is allowed, as in Firecracker (it only costs their benefit).
  EXPECT_EQ(vm.api->put("/machine-config",
                        R"({"vcpu_count": 1, "mem_size_mib": 64, "huge_pages": "2M", "track_dirty_pages": true})")
                .status,
            204);
  vm.process->terminate();
}

TEST(HugePages, TheGuestRunsOnReservedTwoMegabytePagesAndItsSnapshotRestoresThroughUffdOnly) {
  HEARTH_REQUIRE_KVM();
  constexpr uint32_t kMemMib = 32;
  HugePagePool pool(kMemMib / 2);
  if (!pool.ok()) GTEST_SKIP() << "SKIP (needs free 2 MiB pages): " << pool.why();
  TempDir dir;
  ApiVm vm(dir);
  ASSERT_EQ(vm.api->put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                             {"boot_args", "console=ttyS0 testguest.run=ctrl-alt-del"}}.dump()).status,
            204);
  ASSERT_EQ(vm.api->put("/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", kMemMib}, {"huge_pages", "2M"}}.dump())
                .status,
            204);
  const uint64_t free_before = free_pages();
  HttpReply r = vm.api->put("/actions", R"({"action_type": "InstanceStart"})");
  ASSERT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(vm.process->wait_for_output("TESTGUEST", 60000)) << vm.process->output();
  // The whole of guest RAM is reserved from the pool and what the guest touched is on 2 MiB pages.
  EXPECT_EQ(free_pages() + kMemMib / 2, free_before);
  EXPECT_GT(hugetlb_kib(vm.process->pid(), "Private_Hugetlb"), 0u);
  EXPECT_EQ(json::parse(vm.api->get("/vm/config").body)["machine-config"]["huge_pages"], "2M");

  // Firecracker's rule: full snapshots of hugetlbfs memory are fine, restoring one from a File is refused.
  ASSERT_EQ(vm.api->patch("/vm", R"({"state": "Paused"})").status, 204);
  const std::string state = (dir.path() / "vm.state").string();
  const std::string mem = (dir.path() / "vm.mem").string();
  r = vm.api->put("/snapshot/create", json{{"snapshot_path", state}, {"mem_file_path", mem}}.dump());
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.api->patch("/vm", R"({"state": "Resumed"})").status, 204);
  EXPECT_EQ(vm.api->put("/actions", R"({"action_type": "SendCtrlAltDel"})").status, 204);
  ProcessResult done = vm.process->wait();
  SCOPED_TRACE(done.out + done.err);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(done.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_EQ(free_pages(), free_before);  // given back at exit

  TempDir dir2;
  ApiVm clone(dir2);
  r = clone.api->put("/snapshot/load", json{{"snapshot_path", state},
                                            {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("huge_pages \"2M\" snapshot cannot be restored from a File"), std::string::npos) << r.body;
  EXPECT_EQ(json::parse(clone.api->get("/").body)["state"], "Not started");
  clone.process->terminate();

  // Through Uffd it restores onto huge pages, the handler copying whole 2 MiB pages, and the guest goes on.
  const std::string handler_sock = (dir2.path() / "uffd.sock").string();
  ProcessOptions ho;
  ho.timeout = std::chrono::milliseconds(60000);
  BackgroundProcess handler({(std::filesystem::path(hearth_binary()).parent_path() / "hearth-uffd-handler").string(),
                             handler_sock, mem},
                            ho);
  ASSERT_TRUE(handler.wait_for_output("listening on", 10000)) << handler.output();
  TempDir dir3;
  ApiVm restored(dir3);
  r = restored.api->put("/snapshot/load", json{{"snapshot_path", state},
                                               {"mem_backend", {{"backend_type", "Uffd"}, {"backend_path", handler_sock}}},
                                               {"resume_vm", true}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(free_pages() + kMemMib / 2, free_before);
  EXPECT_EQ(restored.api->put("/actions", R"({"action_type": "SendCtrlAltDel"})").status, 204);
  ProcessResult after = restored.process->wait();
  SCOPED_TRACE(after.out + after.err);
  EXPECT_EQ(after.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(after.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_EQ(lines_with_prefix(after.out, "TESTGUEST START").size(), 0u);  // went on, did not boot again
  handler.terminate();
}

TEST(HugePages, TooFewFreePagesIsAClearErrorAtInstanceStartAndNothingStarts) {
  HEARTH_REQUIRE_KVM();
  // Ask for more than the host has free, whatever its pool; the lock keeps the count still meanwhile.
  HugePagePool lock(0);
  const uint64_t available = free_pages();
  const uint64_t want_pages = available + 8;
  const uint32_t mem_mib = static_cast<uint32_t>(want_pages * 2);
  const std::string expected = "needs " + std::to_string(want_pages) + " free 2 MiB huge pages";
  TempDir dir;
  {
    ApiVm vm(dir);
    ASSERT_EQ(vm.api->put("/boot-source", json{{"kernel_image_path", testguest_elf()}}.dump()).status, 204);
    ASSERT_EQ(vm.api->put("/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", mem_mib}, {"huge_pages", "2M"}}.dump())
                  .status,
              204);
    HttpReply r = vm.api->put("/actions", R"({"action_type": "InstanceStart"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(fault(r).find(expected), std::string::npos) << r.body;
    EXPECT_NE(fault(r).find("the host has " + std::to_string(available) + " free"), std::string::npos) << r.body;
    EXPECT_NE(fault(r).find("/proc/sys/vm/nr_hugepages"), std::string::npos) << r.body;
    EXPECT_EQ(json::parse(vm.api->get("/").body)["state"], "Not started");
    // The same VM starts once the configuration fits (host pages).
    EXPECT_EQ(vm.api->patch("/machine-config", R"({"huge_pages": "None", "mem_size_mib": 32})").status, 204);
    ASSERT_EQ(vm.api->put("/boot-source", json{{"kernel_image_path", testguest_elf()},
                                               {"boot_args", "console=ttyS0 testguest.run=boot"}}.dump()).status,
              204);
    EXPECT_EQ(vm.api->put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
    ProcessResult done = vm.process->wait();
    EXPECT_EQ(done.exit_code, 0) << done.out << done.err;
  }
  ProcessResult r = run_hearth_config(
      [&] {
        json c = testguest_config(1, mem_mib, "console=ttyS0 testguest.run=boot");
        c["machine-config"]["huge_pages"] = "2M";
        return c;
      }(),
      {"--no-seccomp"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST").size(), 0u) << r.out;
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
}

TEST(HugePages, LiveMigrationPutsTheDestinationOnHugePagesToo) {
  HEARTH_REQUIRE_KVM();
  constexpr uint32_t kMemMib = 32;
  HugePagePool pool(kMemMib);  // source and destination at once
  if (!pool.ok()) GTEST_SKIP() << "SKIP (needs free 2 MiB pages): " << pool.why();
  TempDir dir;
  json config = testguest_config(1, kMemMib, "console=ttyS0 testguest.run=counter testguest.tick_ms=5 testguest.dirty_pages=4");
  config["machine-config"]["huge_pages"] = "2M";
  const std::string file = dir.write("source.json", config.dump());
  const std::string src_sock = (dir.path() / "src.sock").string();
  const std::string dst_sock = (dir.path() / "dst.sock").string();
  const std::string url = "unix:" + (dir.path() / "mig.sock").string();
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(120000);
  BackgroundProcess source({hearth_binary(), "--api-sock", src_sock, "--no-seccomp", "--config-file", file}, o);
  ASSERT_TRUE(source.wait_for_output("counter: tick=3 ", 60000)) << source.output();
  BackgroundProcess dest({hearth_binary(), "--api-sock", dst_sock, "--no-seccomp", "--migrate-from", url}, o);
  ASSERT_TRUE(wait_for_socket(dst_sock, 10000));
  ApiClient api(src_sock, 120);
  // Post-copy moves 4 KiB pages, which a 2 MiB hugetlb mapping cannot take: refused, nothing started.
  const HttpReply post = api.put("/migration/send", json{{"url", url}, {"post_copy", true}}.dump());
  EXPECT_EQ(post.status, 400) << post.body;
  EXPECT_NE(post.body.find("post_copy"), std::string::npos) << post.body;
  const HttpReply r = api.put("/migration/send", json{{"url", url}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  ProcessResult src = source.wait();
  EXPECT_EQ(src.exit_code, 0) << src.err;
  const auto ticks = lines_with_prefix(src.out.substr(0, src.out.rfind('\n') + 1), "counter: tick=");
  ASSERT_FALSE(ticks.empty());
  const uint64_t last = std::stoull(ticks.back().substr(std::string("counter: tick=").size()));
  EXPECT_TRUE(dest.wait_for_output("counter: tick=" + std::to_string(last + 3) + " ", 60000)) << dest.output();
  EXPECT_GT(hugetlb_kib(dest.pid(), "Private_Hugetlb"), 0u);
  ApiClient dst_api(dst_sock);
  EXPECT_EQ(json::parse(dst_api.get("/vm/config").body)["machine-config"]["huge_pages"], "2M");
  ProcessResult d = dest.terminate();
  EXPECT_EQ(d.out.find("TESTGUEST FAIL"), std::string::npos) << d.out;
}

// The "THPeligible" value of the smallest anonymous mapping of at least `size_kib` (the guest RAM),
// "" when there is none. Not an exact size: without madvise the kernel may merge guest RAM with a
// neighbouring anonymous mapping of the same protection.
std::string thp_eligible(int pid, uint64_t size_kib) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  bool anonymous = false;
  uint64_t size = 0, best_size = UINT64_MAX;
  std::string best;
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    const bool header = colon == std::string::npos || line.find('-') < colon;  // "start-end perms ..."
    if (header) {
      std::istringstream fields(line);
      std::string range, perms, offset, dev, inode, path;
      fields >> range >> perms >> offset >> dev >> inode >> path;
      anonymous = path.empty() && perms.rfind("rw", 0) == 0;
      size = 0;
    } else if (line.rfind("Size:", 0) == 0) {
      size = std::stoull(line.substr(5));
    } else if (line.rfind("THPeligible:", 0) == 0 && anonymous && size >= size_kib && size < best_size) {
      best_size = size;
      best = line.substr(line.find_last_of(' ') + 1);
    }
  }
  return best;
}

TEST(HugePages, TransparentMemoryIsMadvisedForThpAndNoneIsNot) {
  HEARTH_REQUIRE_KVM();
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(mode, modes);
  if (modes.find("[madvise]") == std::string::npos) GTEST_SKIP() << "SKIP (needs THP in madvise mode): " << modes;
  for (const char* pages : {"Transparent", "None"}) {
    SCOPED_TRACE(pages);
    TempDir dir;
    const std::string socket = (dir.path() / "api.sock").string();
    json c = testguest_config(1, 32, "console=ttyS0 testguest.run=ctrl-alt-del");
    c["machine-config"]["huge_pages"] = pages;
    const std::string file = dir.write("vm.json", c.dump());
    ProcessOptions o;
    o.timeout = std::chrono::milliseconds(60000);
    BackgroundProcess vm({hearth_binary(), "--api-sock", socket, "--no-seccomp", "--config-file", file}, o);
    ASSERT_TRUE(wait_for_socket(socket, 10000));
    ASSERT_TRUE(vm.wait_for_output("TESTGUEST", 60000)) << vm.output();
    EXPECT_EQ(thp_eligible(vm.pid(), 32 * 1024), std::string(pages) == "None" ? "0" : "1");
    ApiClient api(socket);
    EXPECT_EQ(api.put("/actions", R"({"action_type": "SendCtrlAltDel"})").status, 204);
    ProcessResult r = vm.wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u) << r.out;
  }
}

}  // namespace
}  // namespace hearth::test
