#include "api/config_checks.h"

#include <fmt/format.h>

#include "vmm/base/host_file.h"

namespace hearth::api {
namespace {

// Opens (never blocking) and closes: the same rules the VMM applies when it uses the file.
void check_file(const std::string& path, std::string_view where, int access, unsigned kinds) {
  HostFileRules rules;
  rules.kinds = kinds;
  rules.access = access;
  open_host_file(path, where, rules);
}

}  // namespace

void check_boot_source_paths(const BootSourceConfig& boot, std::string_view context) {
  check_file(boot.kernel_image_path, fmt::format("{}.kernel_image_path", context), O_RDONLY, kRegularFile);
  if (boot.initrd_path) {
    check_file(*boot.initrd_path, fmt::format("{}.initrd_path", context), O_RDONLY, kRegularFile);
  }
}

void check_drive_path(const DriveConfig& drive, std::string_view context) {
  check_file(drive.path_on_host, fmt::format("{}.path_on_host", context), drive.is_read_only ? O_RDONLY : O_RDWR,
             kRegularFile | kBlockDevice);
}

void check_host_paths(const VmConfig& config) {
  if (config.boot_source) check_boot_source_paths(*config.boot_source);
  for (size_t i = 0; i < config.drives.size(); ++i) {
    check_drive_path(config.drives[i], fmt::format("drives[{}]", i));
  }
}

}  // namespace hearth::api
