#pragma once
// The jail's cgroups: <hierarchy>/<parent_cgroup>/<id> for every hierarchy a --cgroup value needs
// (v1: one per controller; v2: the unified one), the values written, then the jailer joins them so
// the exec'd binary starts inside. Failures name the cgroup file.
#include <string>
#include <vector>

#include "jailer/args.h"
#include "jailer/rollback.h"

namespace hearth::jailer {

struct CgroupMount {
  std::string path;                      // e.g. /sys/fs/cgroup/cpu,cpuacct
  int version = 1;
  std::vector<std::string> controllers;  // v1: from the mount options; v2: empty (cgroup.controllers)
};

// Parses /proc/self/mounts' text.
std::vector<CgroupMount> parse_cgroup_mounts(const std::string& mounts);

// Creates, writes and joins. Registers undo (leave, then rmdir) with `rollback`.
void setup_cgroups(const JailerArgs& args, Rollback& rollback);

}  // namespace hearth::jailer
