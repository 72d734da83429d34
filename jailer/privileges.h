#pragma once
// The last steps before exec: resource limits, no inherited fds, and no privileges left.
#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace hearth::jailer {

void apply_rlimits(std::optional<uint64_t> fsize, uint64_t no_file);

// Closes every fd above 2, so nothing the caller had open leaks into the jail.
void close_inherited_fds();

// setsid(), stdio onto `null_fd` (a /dev/null opened before the jail, which has none).
void daemonize(int null_fd);

// setgroups({gid}), setresgid, setresuid, an empty bounding and ambient set, no capabilities,
// no_new_privs. Verifies the result rather than trusting the calls.
void drop_privileges(uid_t uid, gid_t gid);

}  // namespace hearth::jailer
