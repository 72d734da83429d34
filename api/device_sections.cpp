#include "api/device_sections.h"

#include "api/config_json.h"
#include "api/json_reader.h"

namespace hearth::api {
namespace {

void parse_entropy(const nlohmann::json& body, std::string_view context, VmConfig& config) {
  ObjectReader r(body, std::string(context), {"rate_limiter"});
  EntropyConfig e;
  if (const auto* rl = r.get("rate_limiter")) e.rate_limiter = parse_rate_limiter(*rl, r.path("rate_limiter"));
  config.entropy = e;
}

std::optional<nlohmann::json> render_entropy(const VmConfig& config) {
  if (!config.entropy) return std::nullopt;
  nlohmann::json j = nlohmann::json::object();
  if (config.entropy->rate_limiter) j["rate_limiter"] = to_json(*config.entropy->rate_limiter);
  return j;
}

const DeviceSection kSections[] = {
    {"entropy", parse_entropy, render_entropy},
};

}  // namespace

std::span<const DeviceSection> device_sections() { return kSections; }

const DeviceSection* find_device_section(std::string_view name) {
  for (const auto& s : kSections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace hearth::api
