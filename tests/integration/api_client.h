#pragma once
// A minimal HTTP/1.1 client over a Unix socket, for driving hearth's API in tests.
#include <string>

namespace hearth::test {

struct HttpReply {
  int status = 0;  // 0: no answer (connection failed or closed)
  std::string body;
};

class ApiClient {
 public:
  // `timeout_s`: how long a reply may take (PUT /migration/send answers when the migration ends).
  explicit ApiClient(std::string socket_path, int timeout_s = 30) : path_(std::move(socket_path)), timeout_s_(timeout_s) {}
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // Sends one request on the kept-alive connection (reconnecting when needed).
  HttpReply request(const std::string& method, const std::string& path, const std::string& body = "");
  HttpReply get(const std::string& path) { return request("GET", path); }
  HttpReply put(const std::string& path, const std::string& body) { return request("PUT", path, body); }
  HttpReply patch(const std::string& path, const std::string& body) { return request("PATCH", path, body); }

 private:
  bool connect_socket();
  void close_socket();

  std::string path_;
  int timeout_s_;
  int fd_ = -1;
};

// Waits until `socket_path` accepts connections (or the timeout passes).
bool wait_for_socket(const std::string& socket_path, int timeout_ms);

}  // namespace hearth::test
