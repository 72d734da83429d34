#include "jailer/libraries.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "jailer/failure.h"
#include "vmm/base/fd.h"

namespace hearth::jailer {
namespace {

// Runs `loader --list exec` and returns what it prints (the loader maps the libraries, runs nothing).
std::string run_loader_list(const std::string& loader, const std::string& exec) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno(Step::kJailDir, "pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) fail_errno(Step::kJailDir, "fork");
  if (pid == 0) {
    ::dup2(write_end.get(), STDOUT_FILENO);
    const char* argv[] = {loader.c_str(), "--list", exec.c_str(), nullptr};
    ::execve(loader.c_str(), const_cast<char**>(argv), nullptr);
    std::_Exit(127);
  }
  write_end.reset();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw JailError(Step::kJailDir, fmt::format("{} --list {}: cannot list its shared libraries", loader, exec));
  }
  return out;
}

void make_parents(const std::string& root, const std::string& path, Rollback& rollback) {
  std::string dir = root;
  std::istringstream parts(path.substr(0, path.rfind('/')));
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    dir += "/" + part;
    if (::mkdir(dir.c_str(), 0755) == 0) rollback.add([dir] { ::rmdir(dir.c_str()); });
    else if (errno != EEXIST) fail_errno(Step::kJailDir, "creating " + dir);
  }
}

void place(const std::string& root, const std::string& path, Rollback& rollback) {
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) fail_errno(Step::kJailDir, "resolving " + path);
  make_parents(root, path, rollback);
  const std::string target = root + path;
  if (::access(target.c_str(), F_OK) == 0) return;  // placed by an earlier run or by the user
  // The file itself, not a symlink: inside the jail the link's target would not exist.
  if (::linkat(AT_FDCWD, real, AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    if (errno != EXDEV && errno != EPERM) fail_errno(Step::kJailDir, "linking " + path + " into the jail");
    UniqueFd in(::open(real, O_RDONLY | O_CLOEXEC));
    UniqueFd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
    if (!in || !out) fail_errno(Step::kJailDir, "copying " + path + " into the jail");
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(in.get(), buf, sizeof(buf))) > 0;) {
      if (::write(out.get(), buf, static_cast<size_t>(n)) != n) fail_errno(Step::kJailDir, "writing " + target);
    }
  }
  rollback.add([target] { ::unlink(target.c_str()); });
}

}  // namespace

std::string elf_interpreter(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail_errno(Step::kExecFile, "--exec-file " + path);
  Elf64_Ehdr eh{};
  if (::pread(fd.get(), &eh, sizeof(eh), 0) != sizeof(eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
    throw JailError(Step::kExecFile, fmt::format("--exec-file {}: not a 64-bit ELF executable", path));
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (::pread(fd.get(), &ph, sizeof(ph), static_cast<off_t>(eh.e_phoff + i * sizeof(ph))) != sizeof(ph)) break;
    if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz > PATH_MAX) continue;
    std::string interp(ph.p_filesz, '\0');
    if (::pread(fd.get(), interp.data(), interp.size(), static_cast<off_t>(ph.p_offset)) != static_cast<ssize_t>(interp.size())) {
      break;
    }
    interp.resize(std::strlen(interp.c_str()));
    return interp;
  }
  return "";
}

std::vector<std::string> parse_loader_list(const std::string& output) {
  // "\tlibfmt.so.9 => /lib/x86_64-linux-gnu/libfmt.so.9 (0x...)" or "\t/lib64/ld-linux-x86-64.so.2 (0x...)"
  std::vector<std::string> paths;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto arrow = line.find("=> ");
    std::string rest = arrow == std::string::npos ? line : line.substr(arrow + 3);
    rest.erase(0, rest.find_first_not_of(" \t"));
    const auto end = rest.find(" (");
    if (end != std::string::npos) rest.resize(end);
    if (!rest.empty() && rest[0] == '/') paths.push_back(rest);
  }
  return paths;
}

void install_libraries(const JailerArgs& args, const std::string& root, Rollback& rollback) {
  const std::string interp = elf_interpreter(args.exec_file);
  if (interp.empty()) return;
  place(root, interp, rollback);
  for (const std::string& lib : parse_loader_list(run_loader_list(interp, args.exec_file))) place(root, lib, rollback);
}

}  // namespace hearth::jailer
