#pragma once
// Host-side checks done when a config is accepted (PUT time or config-file load), so a bad path is
// reported to the client that sent it rather than at InstanceStart. Throw hearth::Error.
#include <string_view>

#include "vmm/config/vm_config.h"

namespace hearth::api {

void check_boot_source_paths(const BootSourceConfig& boot, std::string_view context = "boot-source");
void check_drive_path(const DriveConfig& drive, std::string_view context = "drive");
// Every path of `config`, with the config file's contexts ("drives[1].path_on_host: ...").
void check_host_paths(const VmConfig& config);

}  // namespace hearth::api
