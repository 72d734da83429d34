#include "api/migration_json.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/config/json_reader.h"

namespace hearth::api {
namespace {

constexpr uint64_t kMaxDowntimeMs = 3600000;
constexpr uint64_t kMaxRounds = 10000;
constexpr uint64_t kMaxBandwidthMib = 1u << 20;

double rounded(double v) { return std::round(v * 100) / 100; }

}  // namespace

void check_migration_url(const std::string& url, std::string_view where) {
  if (url.rfind("unix:", 0) == 0) {
    const std::string path = url.substr(5);
    if (path.empty()) throw Error(fmt::format("{}: \"unix:\" needs a socket path", where));
    check_host_path(path, fmt::format("{} (socket path)", where));
    return;
  }
  if (url.rfind("tcp:", 0) == 0) {
    const std::string rest = url.substr(4);
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
      throw Error(fmt::format("{}: \"{}\" must be tcp:HOST:PORT", where, url));
    }
    const std::string port = rest.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) == 0 ||
        std::stoul(port) > 65535) {
      throw Error(fmt::format("{}: port \"{}\" must be 1..65535", where, port));
    }
    return;
  }
  throw Error(fmt::format("{}: \"{}\" must start with unix: or tcp:", where, url));
}

MigrationSendRequest parse_migration_send(const nlohmann::json& j) {
  ObjectReader r(j, "migration/send",
                 {"url", "max_downtime_ms", "max_rounds", "bandwidth_mib_s", "auto_converge", "post_copy"});
  MigrationSendRequest req;
  req.url = r.nonempty_string("url");
  check_migration_url(req.url, r.path("url"));
  req.max_downtime_ms = static_cast<uint32_t>(r.opt_unsigned_int("max_downtime_ms", 1, kMaxDowntimeMs).value_or(50));
  req.max_rounds = static_cast<uint32_t>(r.opt_unsigned_int("max_rounds", 1, kMaxRounds).value_or(30));
  req.bandwidth_mib_s = static_cast<uint32_t>(r.opt_unsigned_int("bandwidth_mib_s", 0, kMaxBandwidthMib).value_or(0));
  req.auto_converge = r.opt_boolean("auto_converge").value_or(true);
  req.post_copy = r.opt_boolean("post_copy").value_or(false);
  return req;
}

MigrationReceiveRequest parse_migration_receive(const nlohmann::json& j) {
  ObjectReader r(j, "migration/receive", {"url", "drive_overrides"});
  MigrationReceiveRequest req;
  req.url = r.nonempty_string("url");
  check_migration_url(req.url, r.path("url"));
  if (const auto* overrides = r.get("drive_overrides")) {
    if (!overrides->is_array()) throw_type_error(r.path("drive_overrides"), "an array", *overrides);
    std::set<std::string> seen;
    for (size_t i = 0; i < overrides->size(); ++i) {
      ObjectReader o((*overrides)[i], fmt::format("{}[{}]", r.path("drive_overrides"), i), {"drive_id", "path_on_host"});
      DriveOverride d{o.nonempty_string("drive_id"), o.nonempty_string("path_on_host")};
      check_host_path(d.path_on_host, o.path("path_on_host"));
      if (!seen.insert(d.drive_id).second) o.fail("drive_id", fmt::format("'{}' is given twice", d.drive_id));
      req.drive_overrides.push_back(std::move(d));
    }
  }
  return req;
}

nlohmann::json to_json(const MigrationStatus& s) {
  return {{"state", to_string(s.phase)},
          {"round", s.round},
          {"dirty_pages_last_round", s.dirty_pages_last_round},
          {"bytes_sent", s.bytes_sent},
          {"rate_mib_s", rounded(s.rate_mib_s)},
          {"expected_downtime_ms", rounded(s.expected_downtime_ms)},
          {"downtime_ms", rounded(s.downtime_ms)},
          {"total_ms", rounded(s.total_ms)},
          {"throttle_percent", s.throttle_percent},
          {"pages_requested", s.pages_requested},
          {"error", s.error}};
}

}  // namespace hearth::api
