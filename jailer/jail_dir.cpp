#include "jailer/jail_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <vector>

#include "jailer/failure.h"
#include "vmm/base/fd.h"

namespace hearth::jailer {
namespace {

// mkdir that registers its undo; an existing directory is fine (a user may have placed files).
void make_dir(const std::string& path, mode_t mode, Rollback& rollback) {
  if (::mkdir(path.c_str(), mode) == 0) {
    rollback.add([path] { ::rmdir(path.c_str()); });
    return;
  }
  struct stat st {};
  if (errno == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
  fail_errno(Step::kJailDir, "creating " + path);
}

void copy_file(const std::string& from, const std::string& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) fail_errno(Step::kJailDir, "opening " + from);
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
  if (!out) fail_errno(Step::kJailDir, "creating " + to);
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(in.get(), buf, sizeof(buf));
    if (n < 0) fail_errno(Step::kJailDir, "reading " + from);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0) fail_errno(Step::kJailDir, "writing " + to);
      done += w;
    }
  }
}

struct Node {
  const char* path;  // inside the jail root
  const char* host;  // the host node whose numbers we copy; nullptr: fixed numbers
  unsigned major, minor;
  bool required;
};

}  // namespace

void check_exec_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno(Step::kExecFile, "--exec-file " + path);
  if (!S_ISREG(st.st_mode)) throw JailError(Step::kExecFile, fmt::format("--exec-file {}: not a regular file", path));
  if ((st.st_mode & 0111) == 0) throw JailError(Step::kExecFile, fmt::format("--exec-file {}: not executable", path));
}

void check_user(uid_t uid, gid_t gid) {
  // A uid with no passwd entry is usually a typo; refuse it rather than run a VM as a stranger.
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found_pw = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found_pw) != 0 || !found_pw) {
    throw JailError(Step::kUser, fmt::format("--uid {}: no such user on this host", uid));
  }
  group gr{};
  group* found_gr = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found_gr) != 0 || !found_gr) {
    throw JailError(Step::kUser, fmt::format("--gid {}: no such group on this host", gid));
  }
}

std::string make_jail_root(const JailerArgs& args, Rollback& rollback) {
  struct stat st {};
  if (::stat(args.chroot_base_dir.c_str(), &st) != 0) fail_errno(Step::kJailDir, "--chroot-base-dir " + args.chroot_base_dir);
  if (!S_ISDIR(st.st_mode)) {
    throw JailError(Step::kJailDir, fmt::format("--chroot-base-dir {}: not a directory", args.chroot_base_dir));
  }
  std::string path = args.chroot_base_dir;
  for (const std::string& level : {args.exec_name(), args.id, std::string("root")}) {
    path += "/" + level;
    make_dir(path, 0755, rollback);
  }
  // hearth runs as uid/gid in here and creates its API socket (default /run/firecracker.socket).
  make_dir(path + "/run", 0755, rollback);
  for (const std::string& owned : {path, path + "/run"}) {
    if (::chown(owned.c_str(), args.uid, args.gid) != 0) fail_errno(Step::kJailDir, "chown " + owned);
  }
  return path;
}

void install_exec_file(const JailerArgs& args, const std::string& root, Rollback& rollback) {
  const std::string target = root + "/" + args.exec_name();
  ::unlink(target.c_str());  // a previous run's copy: replace it with the binary asked for now
  if (::link(args.exec_file.c_str(), target.c_str()) != 0) {
    if (errno != EXDEV && errno != EPERM) fail_errno(Step::kJailDir, "linking " + args.exec_file + " to " + target);
    copy_file(args.exec_file, target);
  }
  rollback.add([target] { ::unlink(target.c_str()); });
}

void make_device_nodes(const JailerArgs& args, const std::string& root, Rollback& rollback) {
  const Node nodes[] = {
      {"dev/kvm", nullptr, 10, 232, true},
      {"dev/net/tun", nullptr, 10, 200, true},
      {"dev/userfaultfd", "/dev/userfaultfd", 0, 0, false},  // its minor is dynamic; absent on older hosts
  };
  make_dir(root + "/dev", 0755, rollback);
  make_dir(root + "/dev/net", 0755, rollback);
  for (const Node& n : nodes) {
    dev_t dev = makedev(n.major, n.minor);
    if (n.host) {
      struct stat st {};
      if (::stat(n.host, &st) != 0 || !S_ISCHR(st.st_mode)) {
        if (n.required) fail_errno(Step::kDevNodes, std::string("host device ") + n.host);
        continue;
      }
      dev = st.st_rdev;
    }
    const std::string path = root + "/" + n.path;
    ::unlink(path.c_str());
    if (::mknod(path.c_str(), S_IFCHR | 0600, dev) != 0) fail_errno(Step::kDevNodes, "mknod " + path);
    rollback.add([path] { ::unlink(path.c_str()); });
    if (::chown(path.c_str(), args.uid, args.gid) != 0) fail_errno(Step::kDevNodes, "chown " + path);
  }
}

}  // namespace hearth::jailer
