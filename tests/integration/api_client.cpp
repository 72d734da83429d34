#include "tests/integration/api_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace hearth::test {

ApiClient::~ApiClient() { close_socket(); }

void ApiClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ApiClient::connect_socket() {
  close_socket();
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  timeval tv{timeout_s_, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    close_socket();
    return false;
  }
  return true;
}

HttpReply ApiClient::request(const std::string& method, const std::string& path, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {  // a kept-alive connection may have been closed
    if (fd_ < 0 && !connect_socket()) return {};
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n";
    if (!body.empty() || method != "GET") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      close_socket();
      continue;
    }
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos, content_length = 0;
    while (true) {
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        std::string headers = data.substr(0, header_end);
        for (auto& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto p = headers.find("content-length:"); p != std::string::npos) {
          content_length = std::stoul(headers.substr(p + 15));
        }
      }
    }
    if (header_end == std::string::npos) {
      close_socket();
      if (data.empty()) continue;
      return {};
    }
    HttpReply reply;
    reply.status = std::stoi(data.substr(9, 3));
    reply.body = data.substr(header_end + 4, content_length);
    if (data.find("Connection: close") != std::string::npos) close_socket();
    return reply;
  }
  return {};
}

bool wait_for_socket(const std::string& socket_path, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    ApiClient probe(socket_path);
    if (probe.get("/").status != 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace hearth::test
