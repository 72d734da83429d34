#pragma once
// The one way the VMM opens a host file named by a user (kernel, initrd, drive, log, metrics,
// serial, config file). Paths are hostile input: the open never blocks (a FIFO with no writer,
// a device node), the file's kind is checked before it is used, sizes are checked before reading,
// and every error names the setting, the path and the real problem.
#include <fcntl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/base/fd.h"

namespace hearth {

enum HostFileKind : unsigned {
  kRegularFile = 1u << 0,
  kBlockDevice = 1u << 1,
  kFifo = 1u << 2,
  kCharDevice = 1u << 3,
};

struct HostFileRules {
  unsigned kinds = kRegularFile;  // HostFileKind bits the use accepts
  int access = O_RDONLY;          // O_RDONLY, O_WRONLY or O_RDWR
  bool create = false;            // output files: create a missing regular file, append to it
  uint64_t max_bytes = 0;         // 0: any size; else a larger regular file or block device is refused
  std::string_view max_bytes_reason = {};  // why, for the message ("the guest's memory size")
};

struct HostFile {
  UniqueFd fd;
  HostFileKind kind = kRegularFile;
  uint64_t size = 0;  // bytes, for regular files and block devices
};

// A path string as the user sent it: non-empty, no NUL byte, shorter than PATH_MAX.
// Throws Error("<what>: ...").
void check_host_path(std::string_view path, std::string_view what);

// Opens `path` for `what` (e.g. "drives[0].path_on_host") under `rules`. Regular files and block
// devices come back in blocking mode; FIFOs and character devices stay non-blocking (FIFOs opened
// for writing are opened read-write, so they never wait for a reader). Throws Error.
HostFile open_host_file(const std::string& path, std::string_view what, const HostFileRules& rules);

// Reads a whole regular file of at most `max_bytes`, refusing a larger one before reading it and
// one that grows or shrinks while it is read. Throws Error.
std::vector<uint8_t> read_host_file(const std::string& path, std::string_view what, uint64_t max_bytes,
                                    std::string_view max_bytes_reason = {});

// Like read_host_file, but a pipe or FIFO is read too (`--config-file <(...)`, `/dev/stdin`): until EOF,
// at most `max_bytes`, giving up when no data arrives for `idle_timeout_ms`. A FIFO with no writer
// reads as empty at once; it never blocks the open.
std::vector<uint8_t> read_host_stream(const std::string& path, std::string_view what, uint64_t max_bytes,
                                      int idle_timeout_ms);

// "regular file", "FIFO", "directory", ... for messages.
std::string_view describe_file_type(unsigned st_mode);

}  // namespace hearth
