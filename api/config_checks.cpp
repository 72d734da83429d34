#include "api/config_checks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::api {
namespace {

// `block_ok`: drives may be block devices; kernels and initrds must be regular files.
void check_file(const std::string& path, std::string_view where, int access_mode, bool block_ok) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(fmt::format("{}: cannot access '{}': {}", where, path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode))) {
    throw Error(fmt::format("{}: '{}' is not a {}", where, path,
                            block_ok ? "regular file or block device" : "regular file"));
  }
  if (::access(path.c_str(), access_mode) != 0) {
    throw Error(fmt::format("{}: cannot {} '{}': {}", where,
                            access_mode & W_OK ? "read and write" : "read", path,
                            std::strerror(errno)));
  }
}

}  // namespace

void check_boot_source_paths(const BootSourceConfig& boot, std::string_view context) {
  check_file(boot.kernel_image_path, fmt::format("{}.kernel_image_path", context), R_OK, false);
  if (boot.initrd_path) {
    check_file(*boot.initrd_path, fmt::format("{}.initrd_path", context), R_OK, false);
  }
}

void check_drive_path(const DriveConfig& drive, std::string_view context) {
  check_file(drive.path_on_host, fmt::format("{}.path_on_host", context),
             drive.is_read_only ? R_OK : R_OK | W_OK, true);
}

void check_host_paths(const VmConfig& config) {
  if (config.boot_source) check_boot_source_paths(*config.boot_source);
  for (size_t i = 0; i < config.drives.size(); ++i) {
    check_drive_path(config.drives[i], fmt::format("drives[{}]", i));
  }
}

}  // namespace hearth::api
