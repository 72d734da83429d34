#pragma once
// A StateFile with every field set to something other than its default, and a temporary directory.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot::test {

inline StateFile sample_state() {
  StateFile s;
  s.hearth_version = "0.1.0-test";
  s.type = SnapshotType::kDiff;
  s.created_unix_ms = 1796167678123;
  s.vm_config = {{"machine-config", {{"vcpu_count", 2}, {"mem_size_mib", 128}}},
                 {"boot-source", {{"kernel_image_path", "/k"}}}};
  s.memory = {{0x0, 0x8000000, 0x0}, {0x100000000, 0x200000, 0x8000000}};
  s.drives = {{"rootfs", "/images/rootfs.ext4", 1u << 20}, {"scratch", "/images/scratch.img", 4096}};
  s.machine = {{"vm", {{"pic", "00ff"}}}, {"vcpus", {{{"regs", "ab"}}, {{"regs", "cd"}}}}};
  s.devices = {{"serial", "", 1, {{"ier", 3}}}, {"virtio-blk", "rootfs", 2, {{"queues", {1, 2}}}},
               {"i8042", "", 1, nullptr}};
  return s;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hearth-snapshot-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace hearth::snapshot::test
