#include "virtio/net/mmds/service.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace hearth::virtio::net::mmds {
namespace {

constexpr std::string_view kTokenPath = "/latest/api/token";
constexpr std::string_view kTokenHeaders[] = {"X-metadata-token", "X-aws-ec2-metadata-token"};
constexpr std::string_view kTtlHeaders[] = {"X-metadata-token-ttl-seconds",
                                            "X-aws-ec2-metadata-token-ttl-seconds"};

const std::string* first_header(const HttpRequest& request, std::span<const std::string_view> names) {
  for (auto name : names)
    if (const std::string* value = request.header(name)) return value;
  return nullptr;
}

std::string collapse_slashes(std::string_view path) {
  std::string out;
  for (char c : path)
    if (!(c == '/' && !out.empty() && out.back() == '/')) out += c;
  return out;
}

HttpResponse text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

}  // namespace

MmdsConfig mmds_config_from(const MmdsConfigSpec& spec) {
  MmdsConfig config;
  config.version = spec.version == "V2" ? Version::V2 : Version::V1;
  config.network_interfaces = spec.network_interfaces;
  config.imds_compat = spec.imds_compat;
  // Already checked to be a dotted quad (api/mmds_json.cpp); a bad one keeps the default.
  Ipv4 ip{};
  int octet = 0, value = 0, digits = 0;
  bool ok = true;
  for (char c : spec.ipv4_address) {
    if (c == '.') {
      ok = ok && digits > 0 && octet < 3;
      if (!ok) break;
      ip[size_t(octet++)] = uint8_t(value);
      value = digits = 0;
    } else if (c >= '0' && c <= '9' && digits < 3) {
      value = value * 10 + (c - '0');
      ++digits;
      ok = ok && value <= 255;
    } else {
      ok = false;
    }
  }
  if (ok && octet == 3 && digits > 0) {
    ip[3] = uint8_t(value);
    config.ipv4_address = ip;
  }
  return config;
}

MmdsCounters::MmdsCounters(metrics::Registry& r)
    : rx_accepted(r.counter("mmds.rx_accepted")),
      rx_accepted_err(r.counter("mmds.rx_accepted_err")),
      rx_count(r.counter("mmds.rx_count")),
      rx_invalid_token(r.counter("mmds.rx_invalid_token")),
      rx_no_token(r.counter("mmds.rx_no_token")),
      tx_frames(r.counter("mmds.tx_frames")),
      tx_errors(r.counter("mmds.tx_errors")),
      connections_created(r.counter("mmds.connections_created")),
      connections_destroyed(r.counter("mmds.connections_destroyed")) {}

Service::Service(size_t size_limit, metrics::Registry& registry) : store_(size_limit), counters_(registry) {}

void Service::set_config(MmdsConfig config) {
  std::lock_guard lock(mutex_);
  config_ = std::move(config);
  configured_ = true;
}

MmdsConfig Service::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

bool Service::configured() const {
  std::lock_guard lock(mutex_);
  return configured_;
}

std::unique_ptr<Stack> Service::make_stack(std::string_view iface_id, Mac guest_mac) {
  Ipv4 ip;
  {
    std::lock_guard lock(mutex_);
    if (!configured_) return nullptr;
    const auto& ids = config_.network_interfaces;
    if (std::find(ids.begin(), ids.end(), iface_id) == ids.end()) return nullptr;
    ip = config_.ipv4_address;
  }
  return std::make_unique<Stack>(shared_from_this(), guest_mac, ip);
}

void Service::put(nlohmann::json data) {
  std::lock_guard lock(mutex_);
  store_.put(std::move(data));
}

void Service::patch(const nlohmann::json& merge_patch) {
  std::lock_guard lock(mutex_);
  store_.patch(merge_patch);
}

nlohmann::json Service::get() const {
  std::lock_guard lock(mutex_);
  return store_.value();
}

HttpResponse Service::handle(const HttpRequest& request, Clock::time_point now) {
  counters_.rx_count.add();
  HttpResponse response = [&] {
    std::lock_guard lock(mutex_);
    if (request.path.empty() || request.path.front() != '/') return text(400, "Invalid URI.");
    const bool v2 = config_.version == Version::V2;
    if (request.method == "PUT" && v2) {
      if (request.header("X-Forwarded-For"))
        return text(400, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
      if (collapse_slashes(request.path) != kTokenPath)
        return text(404, fmt::format("Resource not found: {}.", request.path));
      const std::string* ttl = first_header(request, kTtlHeaders);
      if (!ttl)
        return text(400,
                    "Token time to live value not found. Use `X-metadata-token-ttl-seconds` header to "
                    "specify the token's lifetime.");
      uint64_t seconds = 0;
      auto [end, ec] = std::from_chars(ttl->data(), ttl->data() + ttl->size(), seconds);
      if (ec != std::errc() || end != ttl->data() + ttl->size())
        return text(400, fmt::format("Invalid header. Reason: Invalid value. Key:X-metadata-token-ttl-seconds; "
                                     "Value:{}",
                                     *ttl));
      if (seconds < TokenAuthority::kMinTtlSeconds || seconds > TokenAuthority::kMaxTtlSeconds)
        return text(400, fmt::format("Invalid time to live value provided for token: {}. Please provide a "
                                     "value between {} and {}.",
                                     seconds, TokenAuthority::kMinTtlSeconds, TokenAuthority::kMaxTtlSeconds));
      return text(200, tokens_.generate(static_cast<uint32_t>(seconds), now));
    }
    if (request.method != "GET") {
      HttpResponse r = text(405, "Not allowed HTTP method.");
      r.allow = v2 ? "GET, PUT" : "GET";
      return r;
    }
    if (v2) {
      const std::string* token = first_header(request, kTokenHeaders);
      if (!token) {
        counters_.rx_no_token.add();
        return text(401, "No MMDS token provided. Use `X-metadata-token` header to specify the session token.");
      }
      if (!tokens_.is_valid(*token, now)) {
        counters_.rx_invalid_token.add();
        return text(401, "MMDS token not valid.");
      }
    }
    const std::string* accept = request.header("Accept");
    const bool json = !config_.imds_compat && accept && accept->find("application/json") != std::string::npos;
    Lookup found = store_.lookup(request.path, json ? OutputFormat::Json : OutputFormat::Imds);
    switch (found.status) {
      case Lookup::Status::Ok: {
        HttpResponse r = text(200, std::move(found.body));
        if (json) r.content_type = "application/json";
        return r;
      }
      case Lookup::Status::UnsupportedType:
        return text(501, "Cannot retrieve value. The value has an unsupported type.");
      case Lookup::Status::NotFound:
        break;
    }
    return text(404, fmt::format("Resource not found: {}.", request.path));
  }();
  response.version = request.version;
  response.close = !request.keep_alive();
  return response;
}

}  // namespace hearth::virtio::net::mmds
