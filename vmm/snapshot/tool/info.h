#pragma once
// `hearth-snapshot info`: a state file's header and contents, for people.
#include <ostream>
#include <string>

namespace hearth::snapshot {

// Prints what `path` holds to `out`. Throws Error when it does not decode, after printing what the header
// still tells (format version, body length, the CRC line).
void print_state_info(const std::string& path, std::ostream& out);

}  // namespace hearth::snapshot
