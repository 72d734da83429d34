#pragma once
// hearth-jailer's command line: Firecracker's jailer flags, parsed and checked before anything is
// created on the host.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::jailer {

struct CgroupSetting {
  std::string file;        // e.g. "cpu.max", "memory.max", "cpuset.cpus"
  std::string controller;  // the part before the first '.': "cpu", "memory", "cpuset"
  std::string value;
};

struct JailerArgs {
  std::string id;
  std::string exec_file;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string chroot_base_dir = "/srv/jailer";
  std::string netns;
  bool daemonize = false;
  bool new_pid_ns = false;
  int cgroup_version = 1;  // Firecracker's default
  std::vector<CgroupSetting> cgroups;
  std::string parent_cgroup;          // default: the exec file's name
  std::optional<uint64_t> fsize;      // --resource-limit fsize=N (bytes)
  uint64_t no_file = 2048;            // --resource-limit no-file=N; Firecracker's default
  std::vector<std::string> exec_args;  // everything after "--"

  std::string exec_name() const;  // basename of exec_file
};

// Parses and validates argv. Throws JailError(Step::kArgs) for bad flags; prints help/version and
// returns nullopt when asked to (exit 0).
std::optional<JailerArgs> parse_args(int argc, char** argv);

// Checks alone (used by parse_args; unit-tested directly). Each throws JailError(kArgs).
void check_id(const std::string& id);
CgroupSetting parse_cgroup(const std::string& text);
std::pair<std::string, uint64_t> parse_resource_limit(const std::string& text);

}  // namespace hearth::jailer
