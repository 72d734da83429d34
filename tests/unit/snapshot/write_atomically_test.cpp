// write_file_atomically: the file appears whole or not at all, and no temporary is ever left behind.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/error_of.h"
#include "tests/unit/snapshot/sample_state.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {
namespace {

using ::hearth::test::error_of;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using test::TempDir;

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

TEST(WriteFileAtomically, WritesTheWholeFilePrivatelyAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir / "vm.snap";
  write_file_atomically(path, bytes_of("first"), "snapshot_path");
  EXPECT_EQ(contents(path), "first");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  write_file_atomically(path, bytes_of("second, longer"), "snapshot_path");
  EXPECT_EQ(contents(path), "second, longer");
  write_file_atomically(path, {}, "snapshot_path");
  EXPECT_EQ(contents(path), "");
  EXPECT_THAT(entries(dir.path()), ElementsAre("vm.snap"));
}

TEST(WriteFileAtomically, AMissingParentIsNamedAndNothingIsCreated) {
  TempDir dir;
  const std::string path = dir / "no-such-dir/vm.snap";
  EXPECT_EQ(error_of([&] { write_file_atomically(path, bytes_of("x"), "snapshot_path"); }),
            fmt::format("snapshot_path: cannot write '{}': the directory '{}' does not exist", path,
                        dir / "no-such-dir"));
  EXPECT_THAT(entries(dir.path()), IsEmpty());
}

TEST(WriteFileAtomically, AParentThatIsAFileIsNamed) {
  TempDir dir;
  std::ofstream(dir / "plain") << "x";
  const std::string path = dir / "plain/vm.snap";
  EXPECT_EQ(error_of([&] { write_file_atomically(path, bytes_of("x"), "mem_file_path"); }),
            fmt::format("mem_file_path: cannot write '{}': '{}' is a regular file, not a directory", path,
                        dir / "plain"));
  EXPECT_THAT(entries(dir.path()), ElementsAre("plain"));
}

TEST(WriteFileAtomically, APathThatIsADirectoryIsRefused) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0755), 0);
  EXPECT_EQ(error_of([&] { write_file_atomically(dir / "sub", bytes_of("x"), "snapshot_path"); }),
            fmt::format("snapshot_path: cannot write '{}': it is a directory", dir / "sub"));
  EXPECT_THAT(error_of([&] { write_file_atomically("", bytes_of("x"), "snapshot_path"); }),
              "snapshot_path: the path is empty");
  EXPECT_THAT(entries(dir.path()), ElementsAre("sub"));
}

TEST(WriteFileAtomically, AnUnwritableDirectoryIsNamed) {
  TempDir dir;
  // Root writes into any mode-0555 directory; sysfs refuses new files even to root.
  std::string ro = dir / "ro";
  ASSERT_EQ(::mkdir(ro.c_str(), 0555), 0);
  if (::geteuid() == 0) ro = "/sys";
  const std::string path = ro + "/vm.snap";
  // "Permission denied", or "Read-only file system" where /sys is mounted read-only.
  EXPECT_THAT(error_of([&] { write_file_atomically(path, bytes_of("x"), "snapshot_path"); }),
              StartsWith(fmt::format("snapshot_path: cannot write '{}': cannot create a temporary file in '{}': ",
                                     path, ro)));
}

// A full disk, as the file-size limit makes it look: the write fails, the old file survives untouched.
TEST(WriteFileAtomically, AFailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  TempDir dir;
  const std::string path = dir / "vm.snap";
  write_file_atomically(path, bytes_of("old"), "snapshot_path");
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string error =
      error_of([&] { write_file_atomically(path, std::vector<uint8_t>(1 << 20, 7), "snapshot_path"); });
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_THAT(error, StartsWith(fmt::format("snapshot_path: cannot write '{}': cannot write '{}/.vm.snap.tmp-", path,
                                            dir.path())));
  EXPECT_THAT(error, ::testing::EndsWith("File too large"));
  EXPECT_EQ(contents(path), "old");
  EXPECT_THAT(entries(dir.path()), ElementsAre("vm.snap"));
}

}  // namespace
}  // namespace hearth::snapshot
