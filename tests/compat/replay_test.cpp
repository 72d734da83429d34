// Replays, byte for byte over the Unix socket, the requests firecracker-go-sdk and firectl send
// (data/*.http, provenance in each file's header), and checks every status and that the guest boots.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <map>
#include <sstream>
#include <thread>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

struct RawRequest {
  int expected_status = 0;
  std::string bytes;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// "### N" starts a request; the head's LF lines become CRLF, the body (after the empty line) is sent as it
// is, with its trailing newline, and @LEN@ becomes its length.
std::vector<RawRequest> load_http(const std::string& name, const std::map<std::string, std::string>& vars) {
  std::ifstream in(source_dir() + "/tests/compat/data/" + name);
  EXPECT_TRUE(in) << name << " missing";
  std::vector<RawRequest> out;
  std::string head, body;
  bool in_body = false;
  auto finish = [&] {
    if (out.empty()) return;
    for (const auto& [k, v] : vars) body = replace_all(body, k, v);
    head = replace_all(head, "@LEN@", std::to_string(body.size()));
    for (const auto& [k, v] : vars) head = replace_all(head, k, v);
    out.back().bytes = head + "\r\n" + body;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("### ", 0) == 0) {
      finish();
      out.push_back(RawRequest{std::stoi(line.substr(4)), ""});
      head.clear();
      body.clear();
      in_body = false;
    } else if (out.empty()) {
      continue;  // the provenance comments before the first request
    } else if (in_body) {
      body += line + "\n";
    } else if (line.empty()) {
      in_body = true;
    } else {
      head += line + "\r\n";
    }
  }
  finish();
  return out;
}

// One kept-alive connection, as Go's http.Transport reuses it.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  // Sends `bytes` and returns the status of the one response (0 when none), its body in `body`.
  int exchange(const std::string& bytes, std::string& body) {
    if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) return 0;
    for (;;) {
      const size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        std::istringstream head(buffer_.substr(0, end));
        std::string line;
        std::getline(head, line);
        const int status = std::stoi(line.substr(9, 3));
        while (std::getline(head, line)) {
          if (line.rfind("Content-Length:", 0) == 0) length = std::stoul(line.substr(15));
        }
        if (buffer_.size() >= end + 4 + length) {
          body = buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return status;
        }
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return 0;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// Drains a FIFO, as the SDK's FifoLogWriter does, so hearth can open and write it.
class FifoReader {
 public:
  explicit FifoReader(const std::string& path) {
    EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    thread_ = std::thread([this] {
      char chunk[4096];
      while (!stop_) {
        const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
        if (n > 0) {
          std::lock_guard lock(mutex_);
          text_.append(chunk, static_cast<size_t>(n));
        } else {
          ::usleep(2000);
        }
      }
    });
  }
  ~FifoReader() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string text_;
  std::thread thread_;
};

ProcessResult replay(const std::string& file, const TempDir& dir, const std::map<std::string, std::string>& vars) {
  const std::string socket = (dir.path() / "api.sock").string();
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(60000);
  // As the SDK's configureBuilder: --api-sock, --id, --no-seccomp (Seccomp.Enabled false).
  BackgroundProcess hearth({hearth_binary(), "--api-sock", socket, "--id", "sdk-replay-1", "--no-seccomp"}, o);
  EXPECT_TRUE(wait_for_socket(socket, 10000));
  RawConnection conn(socket);
  EXPECT_TRUE(conn.ok());
  const auto requests = load_http(file, vars);
  EXPECT_GE(requests.size(), 7u);
  for (const RawRequest& r : requests) {
    std::string body;
    const int status = conn.exchange(r.bytes, body);
    const std::string first_line = r.bytes.substr(0, r.bytes.find('\r'));
    EXPECT_EQ(status, r.expected_status) << first_line << " -> " << body;
  }
  return hearth.wait();
}

TEST(Replay, GoSdkDefaultHandlersBootTheGuest) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string rootfs = dir.write("rootfs.ext4", std::string(1 << 20, '\0'));
  ProcessResult r = replay("go_sdk_boot.http", dir,
                           {{"@DIR@", dir.path().string()}, {"@KERNEL@", testguest_elf()}, {"@ROOTFS@", rootfs}});
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(value_of(r.out, "cpus"), "2");
  EXPECT_NE(r.out.find("root=/dev/vda rw"), std::string::npos);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  // PUT /logger moved hearth's log to the SDK's file, with the level shown as show_level asks.
  std::ifstream log(dir.path() / "firecracker.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("sdk-replay-1"), std::string::npos) << text.str();
}

TEST(Replay, FirectlWithFifosAndASecondDriveBootsTheGuest) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string rootfs = dir.write("rootfs.ext4", std::string(1 << 20, '\0'));
  const std::string data = dir.write("data.img", std::string(1 << 20, '\0'));
  FifoReader log((dir.path() / "fc_fifo").string());
  FifoReader metrics((dir.path() / "fc_metrics_fifo").string());
  ProcessResult r = replay("firectl_boot.http", dir,
                           {{"@DIR@", dir.path().string()},
                            {"@KERNEL@", testguest_elf()},
                            {"@ROOTFS@", rootfs},
                            {"@DATA@", data}});
  SCOPED_TRACE(r.out + r.err);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(value_of(r.out, "cpus"), "2");
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  EXPECT_NE(log.text().find("sdk-replay-1"), std::string::npos) << log.text();
}

}  // namespace
}  // namespace hearth::test
