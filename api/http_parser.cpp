#include "api/http_parser.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hearth::api {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::optional<size_t> parse_length(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + size_t(c - '0');
  }
  return v;
}

bool contains_token(std::string_view list, std::string_view token) {
  std::string l = lower(list);
  size_t start = 0;
  while (start <= l.size()) {
    size_t comma = l.find(',', start);
    if (comma == std::string::npos) comma = l.size();
    if (trim(std::string_view(l).substr(start, comma - start)) == token) return true;
    start = comma + 1;
  }
  return false;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::string_view status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string fault_body(std::string_view message) {
  return nlohmann::json{{"fault_message", message}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
}

std::string serialize(const HttpResponse& r, bool keep_alive) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nServer: Hearth API\r\n", r.status,
                                status_text(r.status));
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  if (r.status >= 200 && r.status != 204) {
    out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n\r\n", r.content_type,
                       r.body.size());
    out += r.body;
  } else {
    out += "\r\n";
  }
  return out;
}

HttpRequestParser::State HttpRequestParser::fail(int status, std::string message) {
  error_.status = status;
  error_.body = fault_body(message);
  error_.content_type = "application/json";
  state_ = State::kError;
  return state_;
}

HttpRequestParser::State HttpRequestParser::parse_head(std::string_view head) {
  HttpRequest req;
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);

  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "Invalid HTTP request line.");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "Invalid HTTP method.");
  if (version == "HTTP/1.0") {
    req.keep_alive = false;
  } else if (version != "HTTP/1.1") {
    return fail(505, "Unsupported HTTP version.");
  }
  // Absolute form ("http://localhost/vm") is allowed by RFC 7230; keep only the path.
  if (target.starts_with("http://")) {
    size_t slash = target.find('/', 7);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target.front() != '/') return fail(400, "Invalid request URI.");
  target = target.substr(0, target.find_first_of("?#"));
  req.method = method;
  req.path = target;

  std::optional<size_t> content_length;
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      return fail(400, "Invalid HTTP header.");
    }
    std::string name = lower(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      auto n = parse_length(value);
      if (!n || (content_length && *content_length != *n)) {
        return fail(400, "Invalid Content-Length header.");
      }
      content_length = n;
    } else if (name == "transfer-encoding") {
      return fail(501, "Transfer-Encoding is not supported; send a Content-Length.");
    } else if (name == "connection") {
      if (contains_token(value, "close")) req.keep_alive = false;
      if (contains_token(value, "keep-alive")) req.keep_alive = true;
    } else if (name == "expect") {
      if (lower(value) != "100-continue") return fail(400, "Unsupported Expect header.");
      req.expects_continue = true;
    }
    req.headers.emplace_back(std::move(name), std::string(value));
  }
  body_length_ = content_length.value_or(0);
  if (body_length_ > max_body_) {
    return fail(413, fmt::format("Request payload with size {} is larger than the limit of {} "
                                 "allowed by server.",
                                 body_length_, max_body_));
  }
  send_continue_ = req.expects_continue && body_length_ > 0;
  pending_ = std::move(req);
  return State::kNeedMore;
}

HttpRequestParser::State HttpRequestParser::feed(std::string_view data) {
  if (state_ != State::kNeedMore) return state_;
  buffer_.append(data);
  if (!pending_) {
    size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes) return fail(431, "Request headers are too large.");
      return State::kNeedMore;
    }
    if (end > kMaxHeaderBytes) return fail(431, "Request headers are too large.");
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (parse_head(head) == State::kError) return state_;
  }
  if (buffer_.size() < body_length_) return State::kNeedMore;
  if (body_length_ > 0) {
    pending_->body = buffer_.substr(0, body_length_);
    buffer_.erase(0, body_length_);
  }
  state_ = State::kComplete;
  return state_;
}

HttpRequest HttpRequestParser::take() {
  HttpRequest req = std::move(*pending_);
  pending_.reset();
  body_length_ = 0;
  send_continue_ = false;
  state_ = State::kNeedMore;
  return req;
}

bool HttpRequestParser::take_continue() { return std::exchange(send_continue_, false); }

}  // namespace hearth::api
