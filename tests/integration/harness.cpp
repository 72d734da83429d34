#include "tests/integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hearth::test {
namespace {

using Clock = std::chrono::steady_clock;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Drains what is readable from fd into out; returns false at EOF.
bool drain(int fd, std::string& out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(in_pipe, O_CLOEXEC)) {
    throw std::runtime_error("pipe2 failed");
  }
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // A test that ctest kills at its timeout takes its hearth with it, so a hung child cannot
    // outlive the test and eat the CPU the rest of the suite needs.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (options.stdin_fd >= 0) {
      ::dup2(options.stdin_fd, 0);
    } else {
      ::dup2(options.stdin_data.empty() ? ::open("/dev/null", O_RDONLY) : in_pipe[0], 0);
    }
    ::dup2(options.stdout_fd >= 0 ? options.stdout_fd : out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (options.pid_out) options.pid_out->store(pid);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  // Small inputs fit in the pipe buffer; the child reads them when it is ready.
  auto send_stdin = [&] {
    if (in_pipe[1] < 0) return;
    [[maybe_unused]] ssize_t n = ::write(in_pipe[1], options.stdin_data.data(), options.stdin_data.size());
    ::close(in_pipe[1]);
    in_pipe[1] = -1;
  };
  if (options.stdin_data.empty() || options.stdin_after_output.empty()) send_stdin();
  set_nonblocking(out_pipe[0]);
  set_nonblocking(err_pipe[0]);

  ProcessResult result;
  const auto start = Clock::now();
  bool out_open = options.stdout_fd < 0, err_open = true, signal_sent = false;
  while (out_open || err_open) {
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (elapsed > options.timeout) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (!signal_sent && options.signal_after_ms >= 0 && elapsed.count() >= options.signal_after_ms &&
        (options.wait_for_output.empty() || result.out.find(options.wait_for_output) != std::string::npos)) {
      ::kill(pid, options.signal_to_send);
      signal_sent = true;
    }
    if (in_pipe[1] >= 0 && result.out.find(options.stdin_after_output) != std::string::npos) send_stdin();
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0}, {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    ::poll(fds, 2, 20);
    if (out_open) {
      const size_t before = result.out.size();
      out_open = drain(out_pipe[0], result.out);
      if (options.live && result.out.size() > before) {
        std::lock_guard lock(options.live->mutex);
        options.live->out.append(result.out, before);
      }
    }
    if (err_open) err_open = drain(err_pipe[0], result.err);
  }
  if (in_pipe[1] >= 0) ::close(in_pipe[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  drain(out_pipe[0], result.out);
  drain(err_pipe[0], result.err);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.signal = WTERMSIG(status);
  }
  return result;
}

BackgroundProcess::BackgroundProcess(std::vector<std::string> argv, ProcessOptions options) {
  options.pid_out = pid_;
  options.live = live_;
  result_ = std::async(std::launch::async, [argv = std::move(argv), options = std::move(options)] {
    return run_process(argv, options);
  });
}

size_t rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

int BackgroundProcess::pid() const {
  while (pid_->load() == 0) std::this_thread::yield();
  return pid_->load();
}

ProcessResult BackgroundProcess::terminate() {
  while (pid_->load() == 0) std::this_thread::yield();
  ::kill(pid_->load(), SIGTERM);
  return wait();
}

BackgroundProcess::~BackgroundProcess() {
  if (result_.valid()) result_.wait();
}

ProcessResult BackgroundProcess::wait() { return result_.get(); }

bool BackgroundProcess::wait_for_output(const std::string& text, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(live_->mutex);
      if (live_->out.find(text) != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string BackgroundProcess::output() const {
  std::lock_guard lock(live_->mutex);
  return live_->out;
}

std::string hearth_binary() { return HEARTH_BINARY; }
std::string testguest_elf() { return TESTGUEST_ELF; }
std::string source_dir() { return HEARTH_SOURCE_DIR; }

std::string kvm_unavailable_reason() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/kvm: ") + std::strerror(errno);
  ::close(fd);
  return {};
}

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "hearth-test-XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  auto p = path_ / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

ProcessResult run_hearth_config(const nlohmann::json& config, const std::vector<std::string>& extra_args,
                                const ProcessOptions& options) {
  TempDir dir;
  std::vector<std::string> argv = {hearth_binary(), "--config-file", dir.write("vm.json", config.dump()), "--no-api"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return run_process(argv, options);
}

nlohmann::json testguest_config(uint32_t vcpus, uint32_t mem_mib, const std::string& boot_args) {
  return {{"boot-source", {{"kernel_image_path", testguest_elf()}, {"boot_args", boot_args}}},
          {"machine-config", {{"vcpu_count", vcpus}, {"mem_size_mib", mem_mib}}}};
}

std::vector<std::string> lines_with_prefix(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t sum_metric(const std::string& metrics_file, const std::string& suffix) {
  uint64_t total = 0;
  std::istringstream lines(read_file(metrics_file));
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j,
                                                                            const std::string& name) {
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) walk(v, name.empty() ? k : name + "." + k);
    } else if (j.is_number_unsigned() && name.size() >= suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      total += j.get<uint64_t>();
    }
  };
  for (std::string line; std::getline(lines, line);) walk(nlohmann::json::parse(line), "");
  return total;
}

std::string value_of(const std::string& text, const std::string& key) {
  const std::string needle = key + "=";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (size_t pos = line.find(needle); pos != std::string::npos; pos = line.find(needle, pos + 1)) {
      if (pos != 0 && line[pos - 1] != ' ') continue;
      size_t end = line.find(' ', pos);
      return line.substr(pos + needle.size(), end == std::string::npos ? std::string::npos : end - pos - needle.size());
    }
  }
  return {};
}

}  // namespace hearth::test
