#include "virtio/net/kind.h"

#include <linux/if.h>

#include <cctype>

#include <fmt/format.h>

#include "virtio/net/device.h"
#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds_adapter.h"
#include "virtio/net/tap.h"
#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"
#include "vmm/config/rate_limiter_json.h"

namespace hearth::virtio::net {
namespace {

constexpr size_t kMaxIdLength = 64;  // as drive_id

std::string read_iface_id(const ObjectReader& r) {
  const std::string id = r.string("iface_id");
  if (id.empty() || id.size() > kMaxIdLength) {
    r.fail("iface_id", fmt::format("must be 1 to {} characters long, got {}", kMaxIdLength, id.size()));
  }
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') r.fail("iface_id", "may contain only letters, digits and '_'");
  }
  return id;
}

// What the kernel accepts as an interface name (dev_valid_name), printable ASCII only.
void check_dev_name(const ObjectReader& r, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    r.fail("host_dev_name", fmt::format("must be 1 to {} characters long, got {}", IFNAMSIZ - 1, name.size()));
  }
  if (name == "." || name == "..") r.fail("host_dev_name", "is not a valid interface name");
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f || c == '/' || c == ':') {
      r.fail("host_dev_name", "may not contain '/', ':', spaces or non-printable characters");
    }
  }
}

std::optional<RateLimiterConfig> read_limiter(const ObjectReader& r, std::string_view key) {
  if (const auto* rl = r.get(key)) return parse_rate_limiter(*rl, r.path(key));
  return std::nullopt;
}

BuiltDevice build(const nlohmann::json& section, const BuildContext& context) {
  NetConfig config = parse_net_config(section, "network-interfaces");
  auto tap = std::make_unique<Tap>(Tap::open(config.host_dev_name));
  std::unique_ptr<MmdsPort> port;
  if (context.mmds) {
    if (auto stack = context.mmds->make_stack(config.iface_id, config.guest_mac.value_or(MacAddr{}))) {
      port = std::make_unique<MmdsStackPort>(std::move(stack));
    }
  }
  const std::string prefix = fmt::format("net.{}.", config.iface_id);
  auto device = std::make_shared<NetDevice>(std::move(config), std::move(tap), context.loop, std::move(port));
  return {device, device, prefix};
}

constexpr std::string_view kPatchPaths[] = {""};

}  // namespace

NetConfig parse_net_config(const nlohmann::json& body, std::string_view context) {
  ObjectReader r(body, std::string(context),
                 {"iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter", "tx_rate_limiter"},
                 {{"allow_mmds_requests", "was removed from Firecracker; use PUT /mmds/config"}});
  NetConfig c;
  c.iface_id = read_iface_id(r);
  c.host_dev_name = r.string("host_dev_name");
  check_dev_name(r, c.host_dev_name);
  if (auto mac = r.opt_string("guest_mac")) {
    c.guest_mac = parse_mac(*mac);
    if (!c.guest_mac) r.fail("guest_mac", fmt::format("'{}' is not a MAC address like 06:00:ac:10:00:02", *mac));
  }
  if (auto mtu = r.opt_unsigned_int("mtu", 68, 65535)) c.mtu = static_cast<uint16_t>(*mtu);
  c.rx_rate_limiter = read_limiter(r, "rx_rate_limiter");
  c.tx_rate_limiter = read_limiter(r, "tx_rate_limiter");
  return c;
}

nlohmann::json validate_net(const nlohmann::json& body, std::string_view context) {
  const NetConfig c = parse_net_config(body, context);
  nlohmann::json j = {{"iface_id", c.iface_id}, {"host_dev_name", c.host_dev_name}};
  if (c.guest_mac) j["guest_mac"] = format_mac(*c.guest_mac);
  if (c.mtu) j["mtu"] = *c.mtu;
  if (c.rx_rate_limiter) j["rx_rate_limiter"] = to_json(*c.rx_rate_limiter);
  if (c.tx_rate_limiter) j["tx_rate_limiter"] = to_json(*c.tx_rate_limiter);
  return j;
}

void validate_net_instances(const nlohmann::json& instances, std::string_view context) {
  for (size_t i = 0; i < instances.size(); ++i) {
    for (size_t k = 0; k < i; ++k) {
      for (const char* field : {"host_dev_name", "guest_mac"}) {
        const auto a = instances[i].find(field), b = instances[k].find(field);
        if (a == instances[i].end() || b == instances[k].end() || *a != *b) continue;
        throw Error(fmt::format("{}.{}: {} is already used by network interface {}", context, field, a->dump(),
                                instances[k].at("iface_id").dump()));
      }
    }
  }
}

void check_net_host(const nlohmann::json& body, std::string_view context) {
  const std::string name = body.at("host_dev_name").get<std::string>();
  try {
    Tap::open(name);  // closed again at once; the device opens it at boot
  } catch (const Error& e) {
    throw Error(fmt::format("{}.host_dev_name: {}", context, e.what()));
  }
}

nlohmann::json validate_net_patch(std::string_view sub, const nlohmann::json& body, std::string_view context) {
  if (!sub.empty()) throw Error(fmt::format("{}: no such sub-resource", context));
  ObjectReader r(body, std::string(context), {"iface_id", "rx_rate_limiter", "tx_rate_limiter"});
  nlohmann::json j = {{"iface_id", read_iface_id(r)}};
  if (auto rl = read_limiter(r, "rx_rate_limiter")) j["rx_rate_limiter"] = to_json(*rl);
  if (auto rl = read_limiter(r, "tx_rate_limiter")) j["tx_rate_limiter"] = to_json(*rl);
  return j;
}

// Firecracker's update: a bucket in the patch replaces the configured one (size 0 removes it), an absent
// bucket stays.
nlohmann::json apply_net_patch(const nlohmann::json& body, std::string_view, const nlohmann::json& patch) {
  nlohmann::json updated = body;
  for (const char* key : {"rx_rate_limiter", "tx_rate_limiter"}) {
    if (!patch.contains(key)) continue;
    nlohmann::json limiter = updated.contains(key) ? updated[key] : nlohmann::json::object();
    for (const char* bucket : {"bandwidth", "ops"}) {
      if (!patch[key].contains(bucket) || patch[key][bucket].is_null()) continue;
      const auto& b = patch[key][bucket];
      if (b.value("size", uint64_t{0}) == 0 || b.value("refill_time", uint64_t{0}) == 0) {
        limiter.erase(bucket);
      } else {
        limiter[bucket] = b;
      }
    }
    if (limiter.empty()) {
      updated.erase(key);
    } else {
      updated[key] = limiter;
    }
  }
  return updated;
}

const VirtioDeviceKind& network_interfaces_kind() {
  static const VirtioDeviceKind kind{
      DeviceConfigKind{
          .name = "network-interfaces",
          .validate = validate_net,
          .id_field = "iface_id",
          .validate_instances = validate_net_instances,
          .check_host = check_net_host,
          .patch_paths = kPatchPaths,
          .get_paths = {},
          .validate_patch = validate_net_patch,
          .apply_patch = apply_net_patch,
          .patch_before_boot = false,
      },
      "net.", build};
  return kind;
}

}  // namespace hearth::virtio::net
