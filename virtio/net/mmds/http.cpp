#include "virtio/net/mmds/http.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace hearth::virtio::net::mmds {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return &value;
  return nullptr;
}

bool HttpRequest::keep_alive() const {
  const std::string* connection = header("Connection");
  if (version == "HTTP/1.0") return connection && iequals(*connection, "keep-alive");
  return !(connection && iequals(*connection, "close"));
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 501: return "Not Implemented";
    default: return "Internal Server Error";
  }
}

std::string HttpResponse::serialize() const {
  std::string out = fmt::format("{} {} {}\r\nServer: Hearth\r\n", version, status, reason_phrase(status));
  if (!allow.empty()) out += fmt::format("Allow: {}\r\n", allow);
  if (close) out += "Connection: close\r\n";
  out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n\r\n", content_type, body.size());
  out += body;
  return out;
}

void HttpRequestParser::feed(std::span<const uint8_t> data) {
  if (overflow_) return;
  if (buffer_.size() + data.size() > kMaxRequestBytes) {
    overflow_ = true;
    buffer_.clear();
    return;
  }
  buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

HttpRequestParser::Result HttpRequestParser::next(HttpRequest& out, std::string& error) {
  if (overflow_) {
    error = "Request too large.";
    return Result::Error;
  }
  auto fail = [&](std::string message) {
    error = std::move(message);
    // The connection is answered 400 and closed: what else it sends is discarded, not buffered.
    overflow_ = true;
    buffer_.clear();
    return Result::Error;
  };
  size_t head_end = buffer_.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    // A full buffer without a complete head can never become a request (and would close the window).
    if (buffer_.size() >= kMaxRequestBytes) return fail("Request too large.");
    return Result::NeedMore;
  }
  std::string_view head(buffer_.data(), head_end);

  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);

  // Request line: METHOD SP target SP version.
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail("Invalid request line.");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char))
    return fail("Invalid HTTP method.");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail("Unsupported HTTP version.");
  if (target.empty() || !printable(target) || target.find_first_of(" \t") != std::string_view::npos)
    return fail("Invalid URI.");
  // Absolute form (http://host/path): keep the path.
  if (target.substr(0, 7) == "http://") {
    std::string_view after = target.substr(7);
    size_t slash = after.find('/');
    target = slash == std::string_view::npos ? std::string_view{} : after.substr(slash);
  }
  // The query string does not select data.
  target = target.substr(0, target.find('?'));

  HttpRequest request;
  request.method = std::string(method);
  request.path = std::string(target);
  request.version = std::string(version);
  size_t content_length = 0;
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    std::string_view header = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    size_t colon = header.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("Invalid header.");
    std::string_view name = header.substr(0, colon);
    std::string_view value = trim(header.substr(colon + 1));
    if (!std::all_of(name.begin(), name.end(), is_token_char) || !printable(value))
      return fail("Invalid header.");
    if (request.headers.size() >= kMaxHeaders) return fail("Too many headers.");
    if (iequals(name, "Content-Length")) {
      if (value.empty() || value.size() > 6 || !std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return fail("Invalid Content-Length.");
      content_length = std::stoul(std::string(value));
    }
    if (iequals(name, "Transfer-Encoding")) return fail("Transfer-Encoding is not supported.");
    request.headers.emplace_back(std::string(name), std::string(value));
  }
  size_t total = head_end + 4 + content_length;
  if (total > kMaxRequestBytes) return fail("Request too large.");
  if (buffer_.size() < total) return Result::NeedMore;
  buffer_.erase(0, total);  // a body is read and ignored: MMDS takes none
  out = std::move(request);
  return Result::Request;
}

}  // namespace hearth::virtio::net::mmds
