#include "virtio/balloon/kind.h"

#include <limits>

#include "virtio/balloon/device.h"
#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth::virtio::balloon {
namespace {

// Firecracker's limits: amount_mib a u32 (checked against guest RAM once the device runs), the interval a u16.
constexpr uint64_t kMaxAmountMib = std::numeric_limits<uint32_t>::max() / kPagesPerMib;

nlohmann::json to_json(const BalloonConfig& c) {
  return {{"amount_mib", c.amount_mib},
          {"deflate_on_oom", c.deflate_on_oom},
          {"stats_polling_interval_s", c.stats_polling_interval_s},
          {"free_page_hinting", false},
          {"free_page_reporting", c.free_page_reporting}};
}

nlohmann::json validate(const nlohmann::json& body, std::string_view context) {
  return to_json(balloon_config(body, context));
}

// Firecracker's free page hinting paths are served only to refuse them (400, not 404: its clients expect
// every swagger path to answer).
constexpr std::string_view kPatchPaths[] = {"", "statistics", "hinting/start", "hinting/stop"};
constexpr std::string_view kGetPaths[] = {"", "statistics", "hinting/status"};

nlohmann::json validate_patch(std::string_view sub, const nlohmann::json& body, std::string_view context) {
  if (sub.empty()) {
    ObjectReader r(body, std::string(context), {"amount_mib"});
    return {{"amount_mib", r.unsigned_int("amount_mib", 0, kMaxAmountMib)}};
  }
  if (sub != "statistics") throw Error(fmt::format("{}: free page hinting is not supported", context));
  ObjectReader r(body, std::string(context), {"stats_polling_interval_s"});
  return {{"stats_polling_interval_s", r.unsigned_int("stats_polling_interval_s", 0, 0xffff)}};
}

nlohmann::json apply_patch(const nlohmann::json& body, std::string_view sub, const nlohmann::json& patch) {
  nlohmann::json updated = body;
  if (sub.empty()) {
    updated["amount_mib"] = patch.at("amount_mib");
  } else {
    // Before boot the interval may change freely; after boot the device refuses turning it on or off.
    updated["stats_polling_interval_s"] = patch.at("stats_polling_interval_s");
  }
  return updated;
}

BuiltDevice build(const nlohmann::json& section, const BuildContext& context) {
  auto device = std::make_shared<BalloonDevice>(balloon_config(section, "balloon"), context.loop);
  return {device, device, {}};
}

}  // namespace

BalloonConfig balloon_config(const nlohmann::json& body, std::string_view context) {
  ObjectReader r(body, std::string(context),
                 {"amount_mib", "deflate_on_oom", "stats_polling_interval_s", "free_page_hinting", "free_page_reporting"});
  BalloonConfig c;
  c.amount_mib = static_cast<uint32_t>(r.unsigned_int("amount_mib", 0, kMaxAmountMib));
  c.deflate_on_oom = r.boolean("deflate_on_oom");
  c.stats_polling_interval_s = static_cast<uint16_t>(r.opt_unsigned_int("stats_polling_interval_s", 0, 0xffff).value_or(0));
  if (r.opt_boolean("free_page_hinting").value_or(false)) r.fail("free_page_hinting", "free page hinting is not supported");
  c.free_page_reporting = r.opt_boolean("free_page_reporting").value_or(false);
  return c;
}

const VirtioDeviceKind& balloon_kind() {
  static const VirtioDeviceKind kind{
      DeviceConfigKind{
          .name = "balloon",
          .validate = validate,
          .patch_paths = kPatchPaths,
          .get_paths = kGetPaths,
          .validate_patch = validate_patch,
          .apply_patch = apply_patch,
          .patch_before_boot = true,
      },
      "balloon.", build};
  return kind;
}

}  // namespace hearth::virtio::balloon
