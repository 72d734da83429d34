#include "virtio/rng/kind.h"

#include "virtio/rng/device.h"
#include "vmm/config/json_reader.h"
#include "vmm/config/rate_limiter_json.h"

namespace hearth::virtio::rng {
namespace {

EntropyDeviceConfig parse(const nlohmann::json& body, std::string_view context) {
  ObjectReader r(body, std::string(context), {"rate_limiter"});
  EntropyDeviceConfig config;
  if (const auto* rl = r.get("rate_limiter")) config.rate_limiter = parse_rate_limiter(*rl, r.path("rate_limiter"));
  return config;
}

nlohmann::json validate(const nlohmann::json& body, std::string_view context) {
  const EntropyDeviceConfig config = parse(body, context);
  nlohmann::json j = nlohmann::json::object();
  if (config.rate_limiter) j["rate_limiter"] = to_json(*config.rate_limiter);
  return j;
}

BuiltDevice build(const nlohmann::json& section, const BuildContext& context) {
  auto device = std::make_shared<RngDevice>(parse(section, "entropy"), context.loop);
  return {device, device, {}};
}

}  // namespace

const VirtioDeviceKind& entropy_kind() {
  static const VirtioDeviceKind kind{{"entropy", validate}, "entropy.", build};
  return kind;
}

}  // namespace hearth::virtio::rng
