#pragma once
// Strict JSON reading shared by the config file and every REST body, so both reject the same bad
// input with the same one-line message ("<context>.<field>: <problem>").
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth {

// Parses `text`; malformed input throws Error("<context>: invalid JSON at line L column C: ...").
nlohmann::json parse_json(std::string_view text, std::string_view context);

// "string", "boolean", "negative integer", ... for error messages.
std::string_view json_type_name(const nlohmann::json& value);

// A field we recognise but refuse, with the reason shown to the user.
struct UnsupportedField {
  std::string_view key;
  std::string_view reason;
};

// Reads one JSON object. The constructor rejects non-objects, unsupported and unknown fields, so
// a typo is reported before any "missing required field" it causes. Null counts as absent.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& value, std::string context,
               std::initializer_list<std::string_view> known,
               std::initializer_list<UnsupportedField> unsupported = {});

  const std::string& context() const { return context_; }
  // "<context>.<key>", the prefix of every message about that field.
  std::string path(std::string_view key) const;
  // The field's value, or nullptr when it is absent or null.
  const nlohmann::json* get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }

  std::string string(std::string_view key) const;  // required, may be empty
  std::string nonempty_string(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  std::optional<std::string> opt_nonempty_string(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::optional<bool> opt_boolean(std::string_view key) const;
  uint64_t unsigned_int(std::string_view key, uint64_t min, uint64_t max) const;
  std::optional<uint64_t> opt_unsigned_int(std::string_view key, uint64_t min,
                                           uint64_t max) const;

  // Throws Error("<context>: missing required field '<key>'") when absent.
  const nlohmann::json& required(std::string_view key) const;
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

 private:
  const nlohmann::json& value_;
  std::string context_;
};

// Throws Error("<where>: expected <expected>, got <type>").
[[noreturn]] void throw_type_error(std::string_view where, std::string_view expected,
                                   const nlohmann::json& got);

}  // namespace hearth
