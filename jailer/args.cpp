#include "jailer/args.h"

#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "jailer/failure.h"

namespace hearth::jailer {
namespace {

constexpr size_t kMaxIdLength = 64;  // Firecracker's limit

uint64_t parse_u64(const std::string& text, const std::string& what) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19) {
    throw JailError(Step::kArgs, fmt::format("{}: '{}' is not a non-negative integer", what, text));
  }
  return std::stoull(text);
}

}  // namespace

std::string JailerArgs::exec_name() const {
  const auto slash = exec_file.rfind('/');
  return slash == std::string::npos ? exec_file : exec_file.substr(slash + 1);
}

void check_id(const std::string& id) {
  if (id.empty()) throw JailError(Step::kArgs, "--id: must not be empty");
  if (id.size() > kMaxIdLength) {
    throw JailError(Step::kArgs, fmt::format("--id: '{}' is {} characters, at most {}", id, id.size(), kMaxIdLength));
  }
  for (char c : id) {
    // The id becomes a directory and a cgroup name: nothing that could climb out of either.
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      throw JailError(Step::kArgs, fmt::format("--id: '{}' may hold only letters, digits and '-'", id));
    }
  }
}

CgroupSetting parse_cgroup(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw JailError(Step::kArgs, fmt::format("--cgroup: '{}' is not <file>=<value>", text));
  }
  CgroupSetting s{text.substr(0, eq), "", text.substr(eq + 1)};
  const auto dot = s.file.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == s.file.size() || s.file.find('/') != std::string::npos ||
      s.file.find("..") != std::string::npos) {
    throw JailError(Step::kArgs, fmt::format("--cgroup: '{}' is not a cgroup file name like cpu.max", s.file));
  }
  s.controller = s.file.substr(0, dot);
  return s;
}

std::pair<std::string, uint64_t> parse_resource_limit(const std::string& text) {
  const auto eq = text.find('=');
  const std::string name = text.substr(0, eq);
  if (eq == std::string::npos || (name != "fsize" && name != "no-file")) {
    throw JailError(Step::kArgs, fmt::format("--resource-limit: '{}' is not fsize=N or no-file=N", text));
  }
  return {name, parse_u64(text.substr(eq + 1), "--resource-limit " + name)};
}

std::optional<JailerArgs> parse_args(int argc, char** argv) {
  // Everything after the first "--" is hearth's; CLI11 sees only ours.
  std::vector<std::string> ours;
  JailerArgs a;
  bool rest = false;
  for (int i = 1; i < argc; ++i) {
    if (rest) a.exec_args.emplace_back(argv[i]);
    else if (std::strcmp(argv[i], "--") == 0) rest = true;
    else ours.emplace_back(argv[i]);
  }
  CLI::App app{"hearth-jailer: starts hearth in a chroot, namespaces and cgroups, as an unprivileged user"};
  app.set_version_flag("--version", "hearth-jailer (Hearth)");
  std::string uid, gid, cgroup_version = "1";
  std::vector<std::string> cgroups, limits;
  app.add_option("--id", a.id, "MicroVM id: letters, digits and '-', at most 64")->required();
  app.add_option("--exec-file", a.exec_file, "The binary to jail (hearth)")->required();
  app.add_option("--uid", uid, "User id to run as")->required();
  app.add_option("--gid", gid, "Group id to run as")->required();
  app.add_option("--chroot-base-dir", a.chroot_base_dir, "Where jails are made")->capture_default_str();
  app.add_option("--netns", a.netns, "Network namespace to join (a path such as /var/run/netns/NAME)");
  app.add_flag("--daemonize", a.daemonize, "Detach: new session, stdio to /dev/null");
  app.add_flag("--new-pid-ns", a.new_pid_ns, "Run the binary as PID 1 of a new PID namespace");
  app.add_option("--cgroup-version", cgroup_version, "1 or 2")->capture_default_str();
  app.add_option("--cgroup", cgroups, "<file>=<value>, e.g. cpu.max=50000 (repeatable)");
  app.add_option("--parent-cgroup", a.parent_cgroup, "Parent cgroup of the jail's (default: the exec file's name)");
  app.add_option("--resource-limit", limits, "fsize=N or no-file=N (repeatable)");
  try {
    std::vector<std::string> reversed(ours.rbegin(), ours.rend());  // CLI11 takes them last-first
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return std::nullopt;
  } catch (const CLI::CallForVersion&) {
    std::cout << app.version() << "\n";
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    throw JailError(Step::kArgs, e.what());
  }
  check_id(a.id);
  if (a.exec_file.empty()) throw JailError(Step::kArgs, "--exec-file: must not be empty");
  a.uid = static_cast<uid_t>(parse_u64(uid, "--uid"));
  a.gid = static_cast<gid_t>(parse_u64(gid, "--gid"));
  if (cgroup_version != "1" && cgroup_version != "2") {
    throw JailError(Step::kArgs, fmt::format("--cgroup-version: '{}' is not 1 or 2", cgroup_version));
  }
  a.cgroup_version = cgroup_version == "1" ? 1 : 2;
  for (const std::string& c : cgroups) a.cgroups.push_back(parse_cgroup(c));
  if (a.parent_cgroup.empty()) a.parent_cgroup = a.exec_name();
  if (a.parent_cgroup.find("..") != std::string::npos || a.parent_cgroup.front() == '/') {
    throw JailError(Step::kArgs, fmt::format("--parent-cgroup: '{}' must be a relative path without '..'", a.parent_cgroup));
  }
  for (const std::string& l : limits) {
    auto [name, value] = parse_resource_limit(l);
    if (name == "fsize") a.fsize = value;
    else a.no_file = value;
  }
  if (a.chroot_base_dir.empty() || a.chroot_base_dir.front() != '/') {
    throw JailError(Step::kArgs, fmt::format("--chroot-base-dir: '{}' must be an absolute path", a.chroot_base_dir));
  }
  return a;
}

}  // namespace hearth::jailer
