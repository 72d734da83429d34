// hearth-jailer's command line: Firecracker's flags, and a clear error (exit code 2) for bad ones.
#include "jailer/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jailer/failure.h"

namespace hearth::jailer {
namespace {

using ::testing::HasSubstr;

std::optional<JailerArgs> parse(std::vector<std::string> words) {
  words.insert(words.begin(), "hearth-jailer");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

std::vector<std::string> minimal() { return {"--id", "vm-1", "--exec-file", "/usr/bin/hearth", "--uid", "123", "--gid", "456"}; }

std::string error_of(std::vector<std::string> words) {
  try {
    parse(std::move(words));
  } catch (const JailError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "<no error>";
}

TEST(JailerArgs, FirecrackersFlagsAndDefaults) {
  auto words = minimal();
  for (const char* w : {"--cgroup", "cpu.max=50000 100000", "--cgroup", "memory.max=268435456", "--cgroup-version", "2",
                        "--resource-limit", "fsize=1048576", "--resource-limit", "no-file=64", "--netns", "/var/run/netns/vm1",
                        "--daemonize", "--new-pid-ns", "--", "--api-sock", "/run/api.sock", "--level", "Debug"}) {
    words.push_back(w);
  }
  const JailerArgs a = *parse(words);
  EXPECT_EQ(a.id, "vm-1");
  EXPECT_EQ(a.exec_name(), "hearth");
  EXPECT_EQ(a.uid, 123u);
  EXPECT_EQ(a.gid, 456u);
  EXPECT_EQ(a.chroot_base_dir, "/srv/jailer");
  EXPECT_EQ(a.parent_cgroup, "hearth");  // Firecracker's default: the exec file's name
  EXPECT_EQ(a.cgroup_version, 2);
  ASSERT_EQ(a.cgroups.size(), 2u);
  EXPECT_EQ(a.cgroups[0].file, "cpu.max");
  EXPECT_EQ(a.cgroups[0].controller, "cpu");
  EXPECT_EQ(a.cgroups[0].value, "50000 100000");
  EXPECT_EQ(a.fsize, 1048576u);
  EXPECT_EQ(a.no_file, 64u);
  EXPECT_TRUE(a.daemonize);
  EXPECT_TRUE(a.new_pid_ns);
  EXPECT_EQ(a.netns, "/var/run/netns/vm1");
  EXPECT_EQ(a.exec_args, (std::vector<std::string>{"--api-sock", "/run/api.sock", "--level", "Debug"}));
}

TEST(JailerArgs, DefaultsWithoutOptionalFlags) {
  const JailerArgs a = *parse(minimal());
  EXPECT_EQ(a.cgroup_version, 1);
  EXPECT_EQ(a.no_file, 2048u);
  EXPECT_FALSE(a.fsize);
  EXPECT_FALSE(a.daemonize);
  EXPECT_TRUE(a.exec_args.empty());
}

TEST(JailerArgs, IdRules) {
  EXPECT_EQ(error_of({"--id", "a/b", "--exec-file", "/x", "--uid", "1", "--gid", "1"}),
            "--id: 'a/b' may hold only letters, digits and '-'");
  EXPECT_EQ(error_of({"--id", "..", "--exec-file", "/x", "--uid", "1", "--gid", "1"}),
            "--id: '..' may hold only letters, digits and '-'");
  EXPECT_EQ(error_of({"--id", std::string(65, 'a'), "--exec-file", "/x", "--uid", "1", "--gid", "1"}),
            "--id: '" + std::string(65, 'a') + "' is 65 characters, at most 64");
  EXPECT_NO_THROW(check_id(std::string(64, 'a')));
  EXPECT_NO_THROW(check_id("Vm-42"));
}

TEST(JailerArgs, BadValuesAreNamed) {
  auto with = [](std::vector<std::string> extra) {
    auto w = minimal();
    w.insert(w.end(), extra.begin(), extra.end());
    return error_of(w);
  };
  EXPECT_EQ(with({"--cgroup-version", "3"}), "--cgroup-version: '3' is not 1 or 2");
  EXPECT_EQ(with({"--cgroup", "cpu.max"}), "--cgroup: 'cpu.max' is not <file>=<value>");
  EXPECT_EQ(with({"--cgroup", "../escape.x=1"}), "--cgroup: '../escape.x' is not a cgroup file name like cpu.max");
  EXPECT_EQ(with({"--cgroup", "nodot=1"}), "--cgroup: 'nodot' is not a cgroup file name like cpu.max");
  EXPECT_EQ(with({"--resource-limit", "stack=1"}), "--resource-limit: 'stack=1' is not fsize=N or no-file=N");
  EXPECT_EQ(with({"--resource-limit", "fsize=-1"}), "--resource-limit fsize: '-1' is not a non-negative integer");
  EXPECT_EQ(with({"--chroot-base-dir", "relative"}), "--chroot-base-dir: 'relative' must be an absolute path");
  EXPECT_EQ(with({"--parent-cgroup", "../up"}), "--parent-cgroup: '../up' must be a relative path without '..'");
  EXPECT_THAT(error_of({"--id", "x", "--exec-file", "/x", "--uid", "1"}), HasSubstr("--gid"));
  EXPECT_EQ(error_of({"--id", "x", "--exec-file", "/x", "--uid", "root", "--gid", "1"}),
            "--uid: 'root' is not a non-negative integer");
  EXPECT_THAT(with({"--no-such-flag"}), HasSubstr("--no-such-flag"));
}

}  // namespace
}  // namespace hearth::jailer
