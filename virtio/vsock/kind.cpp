#include "virtio/vsock/kind.h"

#include <sys/un.h>

#include "virtio/vsock/device.h"
#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth::virtio::vsock {
namespace {

// "<uds_path>_<port>" must fit sun_path for every 32-bit port.
constexpr size_t kMaxUdsPath = sizeof(sockaddr_un{}.sun_path) - 1 - std::string_view("_4294967295").size();

VsockConfig parse(const nlohmann::json& body, std::string_view context) {
  ObjectReader r(body, std::string(context), {"guest_cid", "uds_path", "vsock_id"});
  VsockConfig config;
  // 0, 1 and 2 are the hypervisor, local and host CIDs; the spec's guest_cid is 32 bits in practice.
  config.guest_cid = r.unsigned_int("guest_cid", 3, 0xffffffffu - 1);
  config.uds_path = r.nonempty_string("uds_path");
  if (config.uds_path.size() > kMaxUdsPath)
    r.fail("uds_path", fmt::format("longer than {} bytes (\"<uds_path>_<port>\" must fit a Unix socket address)", kMaxUdsPath));
  if (config.uds_path.find('\0') != std::string::npos) r.fail("uds_path", "contains a NUL byte");
  (void)r.opt_string("vsock_id");  // deprecated in Firecracker and ignored there too; type-checked only
  return config;
}

nlohmann::json validate(const nlohmann::json& body, std::string_view context) {
  const VsockConfig config = parse(body, context);
  return nlohmann::json{{"guest_cid", config.guest_cid}, {"uds_path", config.uds_path}};
}

void check_host(const nlohmann::json& body, std::string_view context) {
  const VsockConfig config = parse(body, context);
  try {
    check_uds_path_free(config.uds_path);
  } catch (const Error& e) {
    throw Error(fmt::format("{}.uds_path: {}", context, e.what()));
  }
}

BuiltDevice build(const nlohmann::json& section, const BuildContext& context) {
  auto device = std::make_shared<VsockDevice>(parse(section, "vsock"), context.loop);
  return {device, device, {}};
}

}  // namespace

const VirtioDeviceKind& vsock_kind() {
  static const VirtioDeviceKind kind{
      DeviceConfigKind{.name = "vsock", .validate = validate, .check_host = check_host}, "vsock.", build};
  return kind;
}

}  // namespace hearth::virtio::vsock
