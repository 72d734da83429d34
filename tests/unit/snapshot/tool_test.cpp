// The built hearth-snapshot binary: `info` on a good and a damaged state file, `rebase` end to end.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/snapshot/sample_state.h"
#include "vmm/base/fd.h"
#include "vmm/snapshot/memory_file.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::sample_state;
using test::TempDir;

struct ToolRun {
  int status = -1;
  std::string output;  // stdout then stderr, as a terminal would show them
};

ToolRun run_tool(const std::string& args) {
  const std::string command = fmt::format("'{}' {} 2>&1", HEARTH_SNAPSHOT_BINARY, args);
  ToolRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) run.output.append(buf, n);
  const int raw = ::pclose(pipe);
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return run;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(HearthSnapshotTool, InfoPrintsEveryPartOfAGoodFile) {
  TempDir dir;
  const std::vector<uint8_t> bytes = encode_state_file(sample_state());
  write_file_atomically(dir / "vm.snap", bytes, "snapshot_path");
  const StateFileHeader h = read_state_file_header(bytes);
  const ToolRun run = run_tool("info " + dir / "vm.snap");
  EXPECT_EQ(run.status, 0) << run.output;
  const std::string want = fmt::format(
      "format version: 1 (this build reads 1 to 1)\n"
      "body: {} bytes\n"
      "hearth version: 0.1.0-test\n"
      "snapshot type: Diff\n"
      "created: 2026-12-01T23:27:58.123Z (unix ms 1796167678123)\n"
      "vcpus: 2\n"
      "memory regions: 2\n"
      "  guest 0x0 size 0x8000000 (128 MiB) file offset 0x0\n"
      "  guest 0x100000000 size 0x200000 (2 MiB) file offset 0x8000000\n"
      "drives: 2\n"
      "  rootfs: /images/rootfs.ext4 (1048576 bytes)\n"
      "  scratch: /images/scratch.img (4096 bytes)\n"
      "devices: 3\n"
      "  serial state version 1\n"
      "  virtio-blk 'rootfs' state version 2\n"
      "  i8042 state version 1\n"
      "crc: stored=0x{:016x} computed=0x{:016x} ok\n",
      h.body_bytes, h.stored_crc, h.stored_crc);
  EXPECT_EQ(run.output, want);
}

TEST(HearthSnapshotTool, InfoOnACorruptFileShowsTheHeaderAndTheMismatch) {
  TempDir dir;
  std::vector<uint8_t> bytes = encode_state_file(sample_state());
  bytes[100] ^= 0x01;
  write_file_atomically(dir / "bad.snap", bytes, "snapshot_path");
  const StateFileHeader h = read_state_file_header(bytes);
  const ToolRun run = run_tool("info " + dir / "bad.snap");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_THAT(run.output, HasSubstr("format version: 1 (this build reads 1 to 1)\n"));
  EXPECT_THAT(run.output, HasSubstr(fmt::format("crc: stored=0x{:016x} computed=0x{:016x} MISMATCH\n", h.stored_crc,
                                                h.computed_crc)));
  EXPECT_THAT(run.output, HasSubstr(fmt::format("hearth-snapshot: error: '{}': CRC mismatch: stored 0x{:016x}, "
                                                "computed 0x{:016x} (the file is corrupt)\n",
                                                dir / "bad.snap", h.stored_crc, h.computed_crc)));
  EXPECT_THAT(run.output, Not(HasSubstr("devices:")));
}

TEST(HearthSnapshotTool, InfoOnSomethingElseIsOneErrorLine) {
  TempDir dir;
  std::ofstream(dir / "config.json") << "{\"boot-source\": {\"kernel_image_path\": \"/k\"}}";
  ToolRun run = run_tool("info " + dir / "config.json");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, fmt::format("hearth-snapshot: error: '{}': not a Hearth snapshot state file (magic "
                                    "\"{{\"boot-s\", expected \"HEARTHSN\")\n",
                                    dir / "config.json"));
  run = run_tool("info " + dir / "missing");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, fmt::format("hearth-snapshot: error: state file: cannot open '{}': No such file or directory\n",
                                    dir / "missing"));
  run = run_tool("info");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.output, HasSubstr("state_file is required"));
}

TEST(HearthSnapshotTool, RebaseAppliesADiffInPlace) {
  TempDir dir;
  std::vector<uint8_t> old_mem(16 * kPageSize, 0);
  std::memset(old_mem.data(), 0x11, 4 * kPageSize);
  std::vector<uint8_t> new_mem = old_mem;
  std::memset(new_mem.data() + 2 * kPageSize, 0x22, 3 * kPageSize);  // pages 2-4
  std::memset(new_mem.data() + 15 * kPageSize, 0x33, kPageSize);     // page 15
  {
    UniqueFd base(::open((dir / "base.mem").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    UniqueFd diff(::open((dir / "diff.mem").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(base && diff);
    write_full_memory(base.get(), {{0, old_mem}}, "base");
    write_diff_memory(diff.get(), {{0, new_mem}}, {{(1ull << 2) | (1ull << 3) | (1ull << 4) | (1ull << 15)}}, "diff");
  }
  const ToolRun run = run_tool(fmt::format("rebase --base-file {} --diff-file {}", dir / "base.mem", dir / "diff.mem"));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output, fmt::format("rebased '{}' onto '{}': {} bytes copied\n", dir / "diff.mem", dir / "base.mem",
                                    4 * kPageSize));
  EXPECT_EQ(read_text(dir / "base.mem"), std::string(new_mem.begin(), new_mem.end()));

  const ToolRun missing = run_tool(fmt::format("rebase --base-file {} --diff-file {}", dir / "base.mem", dir / "nope"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.output, fmt::format("hearth-snapshot: error: --diff-file: cannot open '{}': No such file or "
                                        "directory\n",
                                        dir / "nope"));
  const ToolRun no_flags = run_tool("rebase");
  EXPECT_NE(no_flags.status, 0);
  EXPECT_THAT(no_flags.output, HasSubstr("--base-file is required"));
}

}  // namespace
}  // namespace hearth::snapshot
