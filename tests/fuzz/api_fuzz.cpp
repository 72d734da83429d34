// libFuzzer target: untrusted bytes through the HTTP parser, the router's JSON body parsers
// (against a controller that touches nothing) and the config-file parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/config_json.h"
#include "api/http_parser.h"
#include "api/router.h"
#include "vmm/base/error.h"

namespace {

using namespace hearth;
using namespace hearth::api;

struct NullController : Controller {
  Result<InstanceInfo> describe_instance() override { return InstanceInfo{}; }
  Result<VmConfig> get_vm_config() override { return VmConfig{}; }
  Result<MachineConfig> get_machine_config() override { return MachineConfig{}; }
  Result<> put_boot_source(const BootSourceConfig&) override { return {}; }
  Result<> put_machine_config(const MachineConfig&) override { return {}; }
  Result<> patch_machine_config(const MachineConfigPatch&) override { return {}; }
  Result<> put_drive(const DriveConfig&) override { return {}; }
  Result<> patch_drive(const DrivePatch&) override { return {}; }
  Result<> put_logger(const LoggerConfig&) override { return {}; }
  Result<> put_metrics(const MetricsConfig&) override { return {}; }
  Result<> put_serial(const SerialConfig&) override { return {}; }
  Result<> put_device_section(std::string_view, const nlohmann::json&) override { return {}; }
  Result<> instance_start() override { return {}; }
  Result<> send_ctrl_alt_del() override { return {}; }
  Result<> flush_metrics() override { return {}; }
  Result<> pause() override { return {}; }
  Result<> resume() override { return {}; }
  Result<> create_snapshot(const SnapshotCreateRequest&) override { return {}; }
  Result<> load_snapshot(const SnapshotLoadRequest&) override { return {}; }
  Result<> migrate_receive(const MigrationReceiveRequest&) override { return {}; }
  Result<> migrate_send(const MigrationSendRequest&, std::function<void(Result<>)> done) override {
    done({});
    return {};
  }
  Result<MigrationStatus> migration_status() override { return MigrationStatus{}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static NullController controller;
  static metrics::Registry registry;
  static Router router(Router::direct(controller), registry);
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // The first byte picks a chunk size so split reads are exercised too.
  size_t chunk = size == 0 ? 1 : size_t(data[0] % 17) + 1;
  HttpRequestParser parser(4096);
  for (size_t off = 0; off < input.size(); off += chunk) {
    auto state = parser.feed(input.substr(off, chunk));
    while (state == HttpRequestParser::State::kComplete) {
      HttpResponse r = router.handle(parser.take());
      if (r.status < 100 || r.status > 599) __builtin_trap();
      state = parser.feed("");
    }
    if (state == HttpRequestParser::State::kError) break;
  }

  try {
    VmConfig c = parse_config_file(input);
    // Whatever parses must survive its own round trip.
    parse_config(to_json(c));
  } catch (const Error&) {
  }
  return 0;
}
