#include "jailer/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "jailer/failure.h"
#include "vmm/base/fd.h"

namespace hearth::jailer {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) fail_errno(Step::kCgroup, "opening " + path);
  // The kernel validates the value on write(): EINVAL here means the value, not the file.
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    fail_errno(Step::kCgroup, fmt::format("writing '{}' to {}", value, path));
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// This process's cgroup in the hierarchy with `key` ("cpu,cpuacct" style for v1, "" for v2).
std::string current_cgroup(const std::string& key) {
  std::istringstream in(read_text("/proc/self/cgroup"));
  for (std::string line; std::getline(in, line);) {
    const auto a = line.find(':');
    const auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    if (line.substr(a + 1, b - a - 1) == key) return line.substr(b + 1);
  }
  return "/";
}

// One hierarchy's jail cgroup, with the settings it gets.
struct Target {
  const CgroupMount* mount = nullptr;
  std::vector<const CgroupSetting*> settings;
};

// cpuset's cpus/mems start empty in a new v1 cgroup, and joining then fails: inherit the parent's.
void inherit_cpuset(const std::string& dir) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    const std::string own = dir + "/" + file;
    if (!exists(own) || !trimmed(read_text(own)).empty()) continue;
    write_text(own, trimmed(read_text(dir.substr(0, dir.rfind('/')) + "/" + file)));
  }
}

void make_levels(const std::string& base, const std::string& relative, bool cpuset, Rollback& rollback) {
  std::string path = base;
  std::istringstream parts(relative);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    path += "/" + part;
    if (::mkdir(path.c_str(), 0755) == 0) {
      rollback.add([path] { ::rmdir(path.c_str()); });
    } else if (errno != EEXIST) {
      fail_errno(Step::kCgroup, "creating cgroup " + path);
    }
    if (cpuset) inherit_cpuset(path);
  }
}

// v2 enables a controller for children in each ancestor's cgroup.subtree_control.
void enable_v2_controllers(const std::string& mount, const std::string& relative, const Target& t) {
  std::string path = mount;
  std::istringstream parts(relative);
  std::vector<std::string> dirs{path};
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    path += "/" + part;
    dirs.push_back(path);
  }
  dirs.pop_back();  // the jail's own cgroup holds the process, so it enables nothing
  for (const CgroupSetting* s : t.settings) {
    if (s->controller == "cgroup") continue;  // core files, present everywhere
    const std::string available = " " + trimmed(read_text(mount + "/cgroup.controllers")) + " ";
    if (available.find(" " + s->controller + " ") == std::string::npos) {
      throw JailError(Step::kCgroup, fmt::format("--cgroup {}: the cgroup v2 hierarchy at {} has no '{}' controller",
                                                 s->file, mount, s->controller));
    }
    for (const std::string& d : dirs) write_text(d + "/cgroup.subtree_control", "+" + s->controller);
  }
}

}  // namespace

std::vector<CgroupMount> parse_cgroup_mounts(const std::string& mounts) {
  std::vector<CgroupMount> out;
  std::istringstream in(mounts);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string dev, path, type, options;
    if (!(fields >> dev >> path >> type >> options)) continue;
    if (type == "cgroup2") {
      out.push_back({path, 2, {}});
    } else if (type == "cgroup") {
      CgroupMount m{path, 1, {}};
      std::istringstream opts(options);
      for (std::string o; std::getline(opts, o, ',');) {
        if (o != "rw" && o != "ro" && o.find('=') == std::string::npos && o.rfind("no", 0) != 0 && o != "relatime") {
          m.controllers.push_back(o);
        }
      }
      out.push_back(m);
    }
  }
  return out;
}

void setup_cgroups(const JailerArgs& args, Rollback& rollback) {
  if (args.cgroups.empty()) return;
  const std::vector<CgroupMount> mounts = parse_cgroup_mounts(read_text("/proc/self/mounts"));
  std::map<std::string, Target> targets;  // by mount path
  for (const CgroupSetting& s : args.cgroups) {
    const CgroupMount* found = nullptr;
    for (const CgroupMount& m : mounts) {
      if (m.version != args.cgroup_version) continue;
      if (m.version == 2 || s.controller == "cgroup") {
        found = &m;
      } else {
        for (const std::string& c : m.controllers) {
          if (c == s.controller) found = &m;
        }
      }
      if (found) break;
    }
    if (!found) {
      throw JailError(Step::kCgroup, fmt::format("--cgroup {}: no cgroup v{} hierarchy {} on this host", s.file,
                                                 args.cgroup_version,
                                                 args.cgroup_version == 2 ? "is mounted" : "has controller '" + s.controller + "'"));
    }
    targets[found->path].mount = found;
    targets[found->path].settings.push_back(&s);
  }
  const std::string relative = args.parent_cgroup + "/" + args.id;
  for (const auto& [path, t] : targets) {
    if (t.mount->version == 2) enable_v2_controllers(path, relative, t);
    bool cpuset = false;
    for (const std::string& c : t.mount->controllers) cpuset = cpuset || c == "cpuset";
    make_levels(path, relative, cpuset, rollback);
    const std::string dir = path + "/" + relative;
    for (const CgroupSetting* s : t.settings) {
      const std::string file = dir + "/" + s->file;
      if (!exists(file)) throw JailError(Step::kCgroup, fmt::format("--cgroup {}: unknown cgroup file ({} does not exist)", s->file, file));
      write_text(file, s->value);
    }
  }
  // Join last, once every value is in: the exec'd binary inherits the membership.
  const std::string pid = std::to_string(::getpid());
  for (const auto& [path, t] : targets) {
    std::string key;
    for (const std::string& c : t.mount->controllers) key += (key.empty() ? "" : ",") + c;
    const std::string back = path + current_cgroup(key) + "/cgroup.procs";
    write_text(path + "/" + relative + "/cgroup.procs", pid);
    rollback.add([back, pid] {  // leave first, or the rmdir of our cgroup fails with EBUSY
      UniqueFd fd(::open(back.c_str(), O_WRONLY | O_CLOEXEC));
      if (fd) [[maybe_unused]] auto n = ::write(fd.get(), pid.data(), pid.size());
    });
  }
}

}  // namespace hearth::jailer
