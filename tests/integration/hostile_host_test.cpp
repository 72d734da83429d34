// Hostile files on the host side: every path the API and the config file take (kernel, initrd,
// drives, logger, metrics, serial, the config file and the API socket) gets a FIFO, a socket, a
// directory, device nodes, a symlink loop, a huge sparse file and a NUL. Each answer must come at
// once with the real problem named, and afterwards the process must still answer, stay small and
// stop on SIGTERM within a second.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "tests/unit/loader/test_images.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kAnswerBound = std::chrono::seconds(2);


// How each hostile variant is made inside `dir`.
struct Variant {
  const char* name;
  std::function<std::string(const TempDir&)> make;
};

std::string make_fifo(const TempDir& dir) {
  const std::string p = (dir.path() / "fifo").string();
  ::mkfifo(p.c_str(), 0600);
  return p;
}

std::string make_socket(const TempDir& dir) {
  const std::string p = (dir.path() / "sock").string();
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", p.c_str());
  ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(s);  // the socket file stays
  return p;
}

std::string make_symlink_loop(const TempDir& dir) {
  const std::string a = (dir.path() / "loop_a").string(), b = (dir.path() / "loop_b").string();
  ::symlink(b.c_str(), a.c_str());
  ::symlink(a.c_str(), b.c_str());
  return a;
}

std::string make_sparse(const TempDir& dir) {
  const std::string p = dir.write("sparse", "x");
  ::truncate(p.c_str(), off_t{1} << 40);  // 1 TiB, no blocks
  return p;
}

const Variant kVariants[] = {
    {"fifo", make_fifo},
    {"socket", make_socket},
    {"directory", [](const TempDir& d) { return d.path().string(); }},
    {"dev_zero", [](const TempDir&) { return std::string("/dev/zero"); }},
    {"dev_kvm", [](const TempDir&) { return std::string("/dev/kvm"); }},
    {"symlink_loop", make_symlink_loop},
    {"huge_sparse", make_sparse},
    {"nul", [](const TempDir& d) { return d.write("real", "data") + std::string("\0.hidden", 8); }},
};

// Where a path goes, and what each variant must get at PUT time.
struct Target {
  const char* name;
  const char* resource;
  std::function<json(const std::string& path)> body;
  bool output;  // an output sink (logger, metrics, serial): FIFOs and sparse files are fine there
};

const Target kTargets[] = {
    {"kernel", "/boot-source", [](const std::string& p) { return json{{"kernel_image_path", p}}; }, false},
    {"initrd", "/boot-source",
     [](const std::string& p) { return json{{"kernel_image_path", testguest_elf()}, {"initrd_path", p}}; }, false},
    {"drive", "/drives/d0",
     [](const std::string& p) {
       return json{{"drive_id", "d0"}, {"path_on_host", p}, {"is_root_device", false}, {"is_read_only", false}};
     },
     false},
    {"logger", "/logger", [](const std::string& p) { return json{{"log_path", p}, {"level", "Info"}}; }, true},
    {"metrics", "/metrics", [](const std::string& p) { return json{{"metrics_path", p}}; }, true},
    {"serial", "/serial", [](const std::string& p) { return json{{"serial_out_path", p}}; }, true},
};

// The expected PUT status and a fragment of the fault message.
std::pair<int, std::string> expectation(const Target& t, const std::string& variant) {
  const std::string name = t.name;
  if (variant == "nul") return {400, "NUL"};
  if (variant == "symlink_loop") return {400, "Too many levels of symbolic links"};
  if (variant == "directory") return {400, "is a directory"};
  if (variant == "socket") return {400, "is a socket"};
  if (variant == "dev_zero" || variant == "dev_kvm") return {400, "is a character device"};
  if (variant == "fifo") return t.output ? std::pair<int, std::string>{204, ""} : std::pair<int, std::string>{400, "is a FIFO"};
  // huge_sparse: a sparse disk or log file is legitimate; a kernel or initrd is checked against the
  // guest's memory size at InstanceStart (see GrowsAfterPut).
  return {204, ""};
}

class HostileHost : public ::testing::Test {
 protected:
  void start() {
    socket_ = (dir_.path() / "api.sock").string();
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(60000);
    process_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{hearth_binary(), "--api-sock", socket_, "--level", "Info"}, opts);
    ASSERT_TRUE(wait_for_socket(socket_, 10000));
    api_ = std::make_unique<ApiClient>(socket_);
  }

  HttpReply timed(const std::string& method, const std::string& path, const std::string& body = "") {
    const auto t0 = Clock::now();
    HttpReply r = api_->request(method, path, body);
    EXPECT_LT(Clock::now() - t0, kAnswerBound) << method << " " << path << " took too long";
    return r;
  }

  // Still answering, still small, and SIGTERM ends it cleanly within a second.
  void expect_healthy_and_stoppable() {
    EXPECT_EQ(timed("GET", "/").status, 200);
    const size_t rss = rss_kib(process_->pid());
    EXPECT_GT(rss, 0u);
    EXPECT_LT(rss, kHearthRssBoundKib) << "RSS " << rss << " KiB";
    const auto t0 = Clock::now();
    ProcessResult r = process_->terminate();
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1)) << "SIGTERM took too long";
    EXPECT_FALSE(r.signaled) << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<BackgroundProcess> process_;
  std::unique_ptr<ApiClient> api_;
};

class HostilePath : public HostileHost, public ::testing::WithParamInterface<std::tuple<size_t, size_t>> {};

TEST_P(HostilePath, PutAnswersAtOnceNamingTheProblem) {
  const Target& target = kTargets[std::get<0>(GetParam())];
  const Variant& variant = kVariants[std::get<1>(GetParam())];
  if (std::string(variant.name) == "dev_kvm" && ::access("/dev/kvm", F_OK) != 0) GTEST_SKIP() << "SKIP: no /dev/kvm";
  start();
  const std::string path = variant.make(dir_);
  const auto [status, fragment] = expectation(target, variant.name);
  HttpReply r = timed("PUT", target.resource, target.body(path).dump());
  EXPECT_EQ(r.status, status) << r.body;
  if (!fragment.empty()) {
    EXPECT_NE(r.body.find(fragment), std::string::npos) << r.body;
    // The setting is named too, so the client knows which field to fix.
    EXPECT_TRUE(r.body.find("path") != std::string::npos) << r.body;
  }
  expect_healthy_and_stoppable();
}

std::string hostile_name(const ::testing::TestParamInfo<std::tuple<size_t, size_t>>& info) {
  return std::string(kTargets[std::get<0>(info.param)].name) + "_" + kVariants[std::get<1>(info.param)].name;
}

INSTANTIATE_TEST_SUITE_P(EveryPathEveryVariant, HostilePath,
                         ::testing::Combine(::testing::Range<size_t>(0, std::size(kTargets)),
                                            ::testing::Range<size_t>(0, std::size(kVariants))),
                         hostile_name);

// Files that change between PUT and InstanceStart are checked again when used.
class ChangedAfterPut : public HostileHost,
                        public ::testing::WithParamInterface<std::tuple<const char*, const char*, const char*>> {};

TEST_P(ChangedAfterPut, InstanceStartRefusesItAndStaysUsable) {
  HEARTH_REQUIRE_KVM();
  const auto [which, change, fragment] = GetParam();
  start();
  const std::string file = dir_.write("file", std::string(4096, '\x7f'));
  const std::string kernel = which == std::string("kernel") ? file : testguest_elf();
  json boot{{"kernel_image_path", kernel}};
  if (which == std::string("initrd")) boot["initrd_path"] = file;
  if (which == std::string("kernel")) {
    std::ifstream in(testguest_elf(), std::ios::binary);
    std::ofstream(file, std::ios::binary) << in.rdbuf();
  }
  ASSERT_EQ(timed("PUT", "/boot-source", boot.dump()).status, 204);
  if (change == std::string("fifo")) {
    ::unlink(file.c_str());
    ::mkfifo(file.c_str(), 0600);
  } else if (change == std::string("grow")) {
    ::truncate(file.c_str(), off_t{1} << 40);
  } else {
    ::truncate(file.c_str(), 0);
  }
  HttpReply r = timed("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(fragment), std::string::npos) << r.body;
  EXPECT_EQ(json::parse(timed("GET", "/").body)["state"], "Not started");
  expect_healthy_and_stoppable();
}

INSTANTIATE_TEST_SUITE_P(
    KernelAndInitrd, ChangedAfterPut,
    ::testing::Values(std::make_tuple("kernel", "fifo", "is a FIFO"),
                      std::make_tuple("kernel", "grow", "more than the 134217728 allowed by machine-config.mem_size_mib"),
                      std::make_tuple("kernel", "shrink", "not an ELF64"),
                      std::make_tuple("initrd", "fifo", "is a FIFO"),
                      std::make_tuple("initrd", "grow", "more than the 134217728 allowed by machine-config.mem_size_mib"),
                      std::make_tuple("initrd", "shrink", "initrd is empty")),
    [](const auto& p) { return std::string(std::get<0>(p.param)) + "_" + std::get<1>(p.param); });

TEST_F(HostileHost, DriveLimitIsAppliedAtPutTime) {
  start();
  const std::string disk = dir_.write("disk", std::string(4096, '\0'));
  for (int i = 0; i < 19; ++i) {
    const std::string id = fmt::format("d{}", i);
    ASSERT_EQ(timed("PUT", "/drives/" + id, json{{"drive_id", id}, {"path_on_host", disk}, {"is_root_device", false},
                                                 {"is_read_only", true}}.dump()).status,
              204);
  }
  HttpReply r = timed("PUT", "/drives/d19", json{{"drive_id", "d19"}, {"path_on_host", disk},
                                                 {"is_root_device", false}, {"is_read_only", true}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("at most 19 drives"), std::string::npos) << r.body;
  // Replacing an existing drive is still fine at the limit.
  EXPECT_EQ(timed("PUT", "/drives/d3", json{{"drive_id", "d3"}, {"path_on_host", disk}, {"is_root_device", false},
                                            {"is_read_only", true}}.dump()).status,
            204);
  EXPECT_EQ(json::parse(timed("GET", "/vm/config").body)["drives"].size(), 19u);
  expect_healthy_and_stoppable();
}

TEST_F(HostileHost, DrivePatchAfterBootIsValidatedLikePut) {
  HEARTH_REQUIRE_KVM();
  start();
  const std::string disk = dir_.write("disk", std::string(1 << 20, '\0'));
  const std::string other = dir_.write("other", std::string(2 << 20, '\0'));
  ASSERT_EQ(timed("PUT", "/boot-source",
                  json{{"kernel_image_path", testguest_elf()}, {"boot_args", "console=ttyS0 testguest.run=ctrl-alt-del"}}
                      .dump()).status,
            204);
  ASSERT_EQ(timed("PUT", "/drives/d0", json{{"drive_id", "d0"}, {"path_on_host", disk}, {"is_root_device", false},
                                            {"is_read_only", false}}.dump()).status,
            204);
  ASSERT_EQ(timed("PUT", "/actions", R"({"action_type": "InstanceStart"})").status, 204);
  const std::string fifo = make_fifo(dir_);
  for (const std::string& bad : {fifo, std::string("/dev/zero"), std::string("/dev/null"), dir_.path().string()}) {
    HttpReply r = timed("PATCH", "/drives/d0", json{{"drive_id", "d0"}, {"path_on_host", bad}}.dump());
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.body.find("path_on_host"), std::string::npos) << r.body;
  }
  EXPECT_EQ(json::parse(timed("GET", "/vm/config").body)["drives"][0]["path_on_host"], disk);
  EXPECT_EQ(timed("PATCH", "/drives/d0", json{{"drive_id", "d0"}, {"path_on_host", other}}.dump()).status, 204);
  EXPECT_EQ(json::parse(timed("GET", "/vm/config").body)["drives"][0]["path_on_host"], other);
  expect_healthy_and_stoppable();
}

TEST_F(HostileHost, SerialPathIsOpenedAtPutTime) {
  start();
  HttpReply r = timed("PUT", "/serial", json{{"serial_out_path", "/nonexistent-dir/serial.log"}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("serial.serial_out_path: cannot create"), std::string::npos) << r.body;
  r = timed("PUT", "/logger", json{{"log_path", dir_.path().string()}}.dump());
  EXPECT_NE(r.body.find("logger.log_path: '"), std::string::npos) << r.body;  // not "metrics: ..."
  expect_healthy_and_stoppable();
}

// --config-file and the paths inside it: a clean one-line error, quickly, never a hang.
void expect_config_refused(const std::vector<std::string>& argv, const std::string& fragment) {
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(10000);
  const auto t0 = Clock::now();
  ProcessResult r = run_process(argv, opts);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_EQ(lines_with_prefix(r.err, "hearth: error: ").size(), 1u) << r.err;
}

TEST(HostileConfigFile, TheConfigFileItself) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {make_fifo(dir), "--config-file: '" + (dir.path() / "fifo").string() + "' is empty"},  // no writer: no wait
      {dir.path().string(), "is a directory"},
      {"/dev/zero", "is a character device"},
      {make_sparse(dir), "is 1099511627776 bytes, more than the 1048576 allowed"},
      {make_symlink_loop(dir), "Too many levels of symbolic links"},
  };
  for (const auto& [path, fragment] : cases) {
    SCOPED_TRACE(path);
    expect_config_refused({hearth_binary(), "--no-api", "--config-file", path}, fragment);
  }
}

// A pipe is a fine config file (process substitution, /dev/stdin), and an endless one is cut off.
TEST(HostileConfigFile, PipesAreReadWithABound) {
  TempDir dir;
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=boot");
  config["boot-source"]["kernel_image_path"] = "/nonexistent/kernel";  // parsed, then refused by name
  const std::string file = dir.write("vm.json", config.dump());
  expect_config_refused({"/bin/sh", "-c", "cat \"$1\" | exec \"$0\" --no-api --config-file /dev/stdin", hearth_binary(), file},
                        "boot-source.kernel_image_path: cannot open '/nonexistent/kernel'");
  expect_config_refused({"/bin/sh", "-c", "exec \"$0\" --no-api --config-file /dev/stdin < /dev/zero", hearth_binary()},
                        "is a character device");
  expect_config_refused({"/bin/sh", "-c", "yes | exec \"$0\" --no-api --config-file /dev/stdin", hearth_binary()},
                        "sends more than the 1048576 bytes allowed");
}

TEST(HostileConfigFile, PathsInsideIt) {
  TempDir dir;
  const std::string fifo = make_fifo(dir);
  auto config = testguest_config(1, 128, "console=ttyS0");
  auto drive = json{{"drive_id", "d0"}, {"path_on_host", fifo}, {"is_root_device", false}, {"is_read_only", false}};
  config["drives"] = json::array({drive});
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("a.json", config.dump())},
                        "drives[0].path_on_host: '" + fifo + "' is a FIFO");
  config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"]["initrd_path"] = std::string("/dev/null");
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("b.json", config.dump())},
                        "boot-source.initrd_path: '/dev/null' is a character device");
  config = testguest_config(1, 128, "console=ttyS0");
  config["logger"] = json{{"log_path", "/dev/kvm"}};
  if (::access("/dev/kvm", F_OK) == 0) {
    expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("c.json", config.dump())},
                          "logger.log_path: '/dev/kvm' is a character device other than /dev/null");
  }
  config = testguest_config(1, 128, "console=ttyS0");
  config["drives"] = json::array();
  const std::string disk = dir.write("disk", std::string(4096, '\0'));
  for (int i = 0; i < 1000; ++i) {
    config["drives"].push_back(json{{"drive_id", fmt::format("d{}", i)}, {"path_on_host", disk},
                                    {"is_root_device", false}, {"is_read_only", true}});
  }
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("d.json", config.dump())},
                        "at most 19 drives");
  config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"]["kernel_image_path"] = testguest_elf() + std::string("\0.tail", 6);
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("e.json", config.dump())},
                        "boot-source.kernel_image_path: must not contain a NUL character");
}

TEST(HostileApiSocket, BadSocketPathsFailFastWithTheReason) {
  TempDir dir;
  const std::string long_path = (dir.path() / std::string(120, 's')).string();
  const std::string regular = dir.write("regular", "keep me");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir.path().string(), "not a socket"},
      {regular, "not a socket"},
      {make_fifo(dir), "not a socket"},
      {long_path, "path must be 1 to 107 bytes long"},
      {(dir.path() / "missing" / "api.sock").string(), "No such file or directory"},
  };
  for (const auto& [path, fragment] : cases) {
    SCOPED_TRACE(path);
    expect_config_refused({hearth_binary(), "--api-sock", path}, fragment);
  }
  // A file in the way is reported, never deleted.
  std::ifstream in(regular);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");
}

TEST(HostileApiSocket, AListenerWithAFullBacklogIsNotWaitedFor) {
  TempDir dir;
  const std::string path = (dir.path() / "busy.sock").string();
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(s, 0), 0);
  std::vector<int> fillers;  // never accepted: the backlog is full
  for (int i = 0; i < 4; ++i) {
    const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(c);
  }
  expect_config_refused({hearth_binary(), "--api-sock", path}, "another process is listening on it");
  for (int c : fillers) ::close(c);
  ::close(s);
}

// With stdout closed, fd 1 must not be reused for an epoll fd or a disk: the guest's console output
// would go there. The run must still boot and end normally.
TEST(HostileStdio, ClosedStdoutDoesNotWedgeTheVmm) {
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  const std::string cfg = dir.write("vm.json", testguest_config(1, 64, "console=ttyS0 testguest.run=boot").dump());
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  ProcessResult r = run_process({"/bin/sh", "-c", "exec \"$0\" --no-api --config-file \"$1\" >&- <&-", hearth_binary(), cfg},
                                opts);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// A truncated bzImage used to triple-fault and exit 0 without a word.
TEST(HostileKernel, TruncatedBzImageIsRefusedNamingSyssize) {
  const std::string bz = source_dir() + "/resources/out/bzImage";
  if (::access(bz.c_str(), R_OK) != 0) GTEST_SKIP() << "SKIP: " << bz << " missing; run resources/fetch-debian-kernel.sh";
  HEARTH_REQUIRE_KVM();
  TempDir dir;
  std::ifstream in(bz, std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  image.resize(image.size() / 2);
  auto config = testguest_config(1, 512, "console=ttyS0");
  config["boot-source"]["kernel_image_path"] = dir.write("half.bzImage", image);
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("vm.json", config.dump())},
                        "bzImage is truncated: setup_header.syssize");
}

// A segment in the MMIO gap cannot be fixed with more memory, so the message must not suggest it.
TEST(HostileKernel, ElfSegmentInTheMmioGapIsNamedAsSuch) {
  HEARTH_REQUIRE_KVM();
  // 16 file bytes, 2 MiB in memory, straddling the gap at 0xD0000000.
  const std::vector<uint8_t> elf =
      loader::test::ElfBuilder().load(0xCFF00000, std::vector<uint8_t>(16, 0), 2 << 20).entry(0xCFF00000).build();
  const std::string image(elf.begin(), elf.end());
  TempDir dir;
  auto config = testguest_config(1, 128, "console=ttyS0");
  config["boot-source"]["kernel_image_path"] = dir.write("gap.elf", image);
  expect_config_refused({hearth_binary(), "--no-api", "--config-file", dir.write("vm.json", config.dump())},
                        "into the MMIO gap");
}

}  // namespace
}  // namespace hearth::test
