// The host-file helper against every kind of hostile path: it must never block, never read more than
// allowed, and name the real problem.
#include "vmm/base/host_file.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;

class HostFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-host-file-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string write_file(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  template <typename F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  std::string dir_;
};

TEST_F(HostFileTest, ReadsARegularFileWhole) {
  const auto path = write_file("k", "kernel bytes");
  const auto data = read_host_file(path, "kernel", 1024);
  EXPECT_EQ(std::string(data.begin(), data.end()), "kernel bytes");
}

TEST_F(HostFileTest, AFifoNeverBlocksAndIsRefusedByKind) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { read_host_file(fifo, "boot-source.kernel_image_path", 1 << 20); }),
            "boot-source.kernel_image_path: '" + fifo + "' is a FIFO; it must be a regular file");
  HostFileRules rw;
  rw.kinds = kRegularFile | kBlockDevice;
  rw.access = O_RDWR;
  EXPECT_THAT(error_of([&] { open_host_file(fifo, "drive", rw); }), HasSubstr("is a FIFO; it must be a regular file or a block device"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(HostFileTest, AFifoOpenedForWritingNeedsNoReader) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  HostFileRules out;
  out.kinds = kRegularFile | kFifo;
  out.access = O_WRONLY;
  out.create = true;
  HostFile f = open_host_file(fifo, "logger.log_path", out);
  EXPECT_EQ(f.kind, kFifo);
  EXPECT_EQ(::write(f.fd.get(), "x", 1), 1);
  EXPECT_NE(::fcntl(f.fd.get(), F_GETFL) & O_NONBLOCK, 0);  // a full pipe must not stall the VMM
}

TEST_F(HostFileTest, DirectoriesSocketsAndDeviceNodesAreNamed) {
  EXPECT_THAT(error_of([&] { read_host_file(dir_, "--config-file", 1024); }), HasSubstr("is a directory"));
  EXPECT_THAT(error_of([&] { read_host_file("/dev/zero", "--config-file", 1024); }),
              HasSubstr("'/dev/zero' is a character device; it must be a regular file"));
  HostFileRules disk;
  disk.kinds = kRegularFile | kBlockDevice;
  disk.access = O_RDWR;
  for (const char* node : {"/dev/null", "/dev/zero", "/dev/kvm"}) {
    if (::access(node, F_OK) != 0) continue;
    EXPECT_THAT(error_of([&] { open_host_file(node, "drives[0].path_on_host", disk); }),
                HasSubstr("is a character device"))
        << node;
  }
  const std::string sock_path = dir_ + "/sock";
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_THAT(error_of([&] { read_host_file(sock_path, "initrd", 1024); }), HasSubstr("is a socket"));
  ::close(s);
}

TEST_F(HostFileTest, SymlinksAreFollowedAndLoopsReported) {
  const auto target = write_file("target", "abc");
  ASSERT_EQ(::symlink(target.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(read_host_file(dir_ + "/link", "initrd", 16).size(), 3u);
  ASSERT_EQ(::symlink((dir_ + "/loop_b").c_str(), (dir_ + "/loop_a").c_str()), 0);
  ASSERT_EQ(::symlink((dir_ + "/loop_a").c_str(), (dir_ + "/loop_b").c_str()), 0);
  EXPECT_THAT(error_of([&] { read_host_file(dir_ + "/loop_a", "initrd", 16); }),
              HasSubstr("Too many levels of symbolic links"));
}

TEST_F(HostFileTest, AHugeSparseFileIsRefusedBeforeReading) {
  const std::string path = dir_ + "/sparse";
  { std::ofstream(path).put('x'); }
  ASSERT_EQ(::truncate(path.c_str(), off_t{1} << 40), 0);  // 1 TiB, no blocks
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { read_host_file(path, "boot-source.initrd_path", 128 << 20, "machine-config.mem_size_mib"); }),
            "boot-source.initrd_path: '" + path +
                "' is 1099511627776 bytes, more than the 134217728 allowed by machine-config.mem_size_mib");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(HostFileTest, PathStringsAreChecked) {
  EXPECT_EQ(error_of([] { check_host_path(std::string("/tmp/a\0b", 8), "drives[0].path_on_host"); }),
            "drives[0].path_on_host: the path contains a NUL character");
  EXPECT_EQ(error_of([] { check_host_path("", "logger.log_path"); }), "logger.log_path: the path is empty");
  EXPECT_THAT(error_of([] { check_host_path(std::string(5000, 'a'), "x"); }), HasSubstr("the limit is 4095"));
}

TEST_F(HostFileTest, OutputFilesAreCreatedAndAppended) {
  const std::string path = dir_ + "/serial.log";
  HostFileRules out;
  out.kinds = kRegularFile | kFifo | kCharDevice;
  out.access = O_WRONLY;
  out.create = true;
  {
    HostFile f = open_host_file(path, "serial.serial_out_path", out);
    ASSERT_EQ(::write(f.fd.get(), "one\n", 4), 4);
  }
  {
    HostFile f = open_host_file(path, "serial.serial_out_path", out);
    ASSERT_EQ(::write(f.fd.get(), "two\n", 4), 4);
  }
  const auto data = read_host_file(path, "x", 64);
  EXPECT_EQ(std::string(data.begin(), data.end()), "one\ntwo\n");
  EXPECT_THAT(error_of([&] { open_host_file(dir_ + "/missing/dir/f", "metrics.metrics_path", out); }),
              HasSubstr("metrics.metrics_path: cannot create"));
}

TEST_F(HostFileTest, MissingAndUnreadableFilesSayWhy) {
  EXPECT_EQ(error_of([&] { read_host_file(dir_ + "/none", "boot-source.kernel_image_path", 16); }),
            "boot-source.kernel_image_path: cannot open '" + dir_ + "/none': No such file or directory");
}

}  // namespace
}  // namespace hearth
