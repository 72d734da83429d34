// The jailer's readers of host text: /proc/self/mounts for cgroup hierarchies, the dynamic loader's
// library list, and an ELF file's interpreter.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jailer/cgroup.h"
#include "jailer/failure.h"
#include "jailer/libraries.h"

namespace hearth::jailer {
namespace {

TEST(CgroupMounts, FindsV1ControllersAndTheV2Hierarchy) {
  const auto mounts = parse_cgroup_mounts(
      "/dev/vda / ext4 rw,relatime 0 0\n"
      "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
      "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n");
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].path, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(mounts[0].version, 1);
  EXPECT_EQ(mounts[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_TRUE(mounts[1].controllers.empty());  // a named hierarchy has no controller
  EXPECT_EQ(mounts[2].version, 2);
  EXPECT_EQ(mounts[2].path, "/sys/fs/cgroup/unified");
}

TEST(LoaderList, AbsolutePathsOnly) {
  const auto libs = parse_loader_list(
      "\tlinux-vdso.so.1 (0x00007ffd)\n"
      "\tlibfmt.so.9 => /lib/x86_64-linux-gnu/libfmt.so.9 (0x00007f70)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f71)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f72)\n");
  EXPECT_EQ(libs, (std::vector<std::string>{"/lib/x86_64-linux-gnu/libfmt.so.9", "/lib/x86_64-linux-gnu/libc.so.6",
                                            "/lib64/ld-linux-x86-64.so.2"}));
}

TEST(ElfInterpreter, DynamicStaticAndNotElf) {
  EXPECT_EQ(elf_interpreter("/bin/ls"), "/lib64/ld-linux-x86-64.so.2");
  char path[] = "/tmp/hearth-not-elf-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "#!/bin/sh\n", 10), 10);
  ::close(fd);
  const std::string text_file = path;
  try {
    elf_interpreter(text_file);
    ADD_FAILURE() << "no error for a text file";
  } catch (const JailError& e) {
    EXPECT_EQ(e.step(), Step::kExecFile);
    EXPECT_EQ(std::string(e.what()), "--exec-file " + text_file + ": not a 64-bit ELF executable");
  }
  ::unlink(path);
}

}  // namespace
}  // namespace hearth::jailer
