#pragma once
// Runs the hearth binary (or QEMU) as a child process and captures what it prints.
#include <chrono>
#include <cstdint>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::test {

struct ProcessResult {
  int exit_code = -1;     // valid when !signaled && !timed_out
  bool signaled = false;  // killed by a signal (a crash, or our timeout kill)
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Output seen so far, shared with another thread while the process runs.
struct LiveOutput {
  std::mutex mutex;
  std::string out;
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{30000};
  std::string stdin_data;            // written then closed; empty: stdin is /dev/null
  std::string stdin_after_output;    // hold stdin_data back until this appears on stdout
  int stdin_fd = -1;                 // when >= 0, the child's stdin (e.g. a pty), instead of the above
  int stdout_fd = -1;                // when >= 0, the child's stdout (not captured then)
  int signal_after_ms = -1;          // send `signal_to_send` this long after start
  int signal_to_send = 15;
  std::string wait_for_output;       // with signal_after_ms: send the signal once this appears on stdout
  std::shared_ptr<std::atomic<int>> pid_out;  // receives the child's pid once it runs
  std::shared_ptr<LiveOutput> live;            // receives stdout as it arrives
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// run_process on another thread, for tests that talk to the process while it runs.
class BackgroundProcess {
 public:
  BackgroundProcess(std::vector<std::string> argv, ProcessOptions options);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  // Waits for the process to end (it is killed at its own timeout).
  ProcessResult wait();
  // Sends SIGTERM, then waits.
  ProcessResult terminate();
  // The child's pid (waits until it has been started).
  int pid() const;
  // True once `text` has appeared on the process's stdout, false after `timeout_ms`.
  bool wait_for_output(const std::string& text, int timeout_ms);
  // Stdout so far.
  std::string output() const;

 private:
  std::shared_ptr<std::atomic<int>> pid_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<LiveOutput> live_ = std::make_shared<LiveOutput>();
  std::future<ProcessResult> result_;
};

// Paths baked in by CMake.
std::string hearth_binary();
std::string testguest_elf();
std::string source_dir();

// VmRSS of a running process in KiB (0 when it is gone).
size_t rss_kib(int pid);
// What a hostile client or file may make hearth grow to: 64 MiB (it idles at about 5-9 MiB). A
// sanitizer build carries ASan's shadow memory and quarantine, so its bound is wider.
#ifdef HEARTH_TEST_SANITIZED
inline constexpr size_t kHearthRssBoundKib = 512 * 1024;
#else
inline constexpr size_t kHearthRssBoundKib = 64 * 1024;
#endif

// Empty when /dev/kvm can be opened read-write; otherwise why not.
std::string kvm_unavailable_reason();

// A private temporary directory removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// Boots `kernel` under hearth with a config file; extra CLI args appended.
ProcessResult run_hearth_config(const nlohmann::json& config, const std::vector<std::string>& extra_args = {},
                                const ProcessOptions& options = {});

// Standard config for the test guest.
nlohmann::json testguest_config(uint32_t vcpus, uint32_t mem_mib, const std::string& boot_args);

// Lines of `text` starting with `prefix`.
std::vector<std::string> lines_with_prefix(const std::string& text, const std::string& prefix);
// The value after "key=" on the first line starting with `line_prefix` ("" if absent).
// The whole file ("" when it cannot be read).
std::string read_file(const std::string& path);
// Sum over a metrics file's JSON lines (deltas) of every counter whose dotted name ends with `suffix`.
uint64_t sum_metric(const std::string& metrics_file, const std::string& suffix);

std::string value_of(const std::string& text, const std::string& key);

}  // namespace hearth::test

#define HEARTH_REQUIRE_KVM()                                                         \
  do {                                                                                \
    if (auto reason = ::hearth::test::kvm_unavailable_reason(); !reason.empty()) {   \
      GTEST_SKIP() << "SKIP (needs KVM): " << reason;                                 \
    }                                                                                 \
  } while (0)
