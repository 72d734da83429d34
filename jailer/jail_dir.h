#pragma once
// The jail on the host: <base>/<exec_name>/<id>/root, the exec file inside it, and the device nodes
// hearth opens (/dev/kvm, /dev/net/tun, /dev/userfaultfd), owned by the jail's uid/gid.
#include <string>

#include "jailer/args.h"
#include "jailer/rollback.h"

namespace hearth::jailer {

// Checks the exec file (a regular, executable file) and that uid and gid exist on this host.
void check_exec_file(const std::string& path);
void check_user(uid_t uid, gid_t gid);

// <base>/<exec_name>/<id>/root. The base must exist; missing levels below it are created (and
// registered with `rollback`). Returns the root's path.
std::string make_jail_root(const JailerArgs& args, Rollback& rollback);

// Hard-links the exec file into the root (copies it when the link crosses file systems).
void install_exec_file(const JailerArgs& args, const std::string& root, Rollback& rollback);

// Creates dev/kvm, dev/net/tun and (where the host has it) dev/userfaultfd.
void make_device_nodes(const JailerArgs& args, const std::string& root, Rollback& rollback);

}  // namespace hearth::jailer
