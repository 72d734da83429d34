#pragma once
// JSON parsing that remembers the line each value started on, keyed by JSON pointer, so a
// validator can say "line 12: unknown syscall" (nlohmann's DOM keeps no positions).
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace hearth::seccomp {

struct JsonWithLines {
  nlohmann::json value;
  std::map<std::string, int> lines;  // "/vmm/filter/3/syscall" -> 12
  int line_of(const std::string& pointer) const;  // the nearest recorded ancestor's line; 1 if none
};

// Throws Error "<path>:<line>: <parse error>" for malformed JSON.
JsonWithLines parse_json_with_lines(const std::string& text, const std::string& path);

}  // namespace hearth::seccomp
