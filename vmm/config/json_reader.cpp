#include "vmm/config/json_reader.h"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

// nlohmann reports a byte offset; users want line and column.
std::pair<size_t, size_t> line_column(std::string_view text, size_t byte) {
  size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, end - line_start + 1};
}

// Drops nlohmann's "[json.exception...] parse error at line 1, column 2: " prefix.
std::string_view parse_error_detail(std::string_view what) {
  size_t at = what.find("parse error");
  if (at == std::string_view::npos) return what;
  size_t colon = what.find(": ", at);
  if (colon == std::string_view::npos) return what;
  return what.substr(colon + 2);
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view context) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    auto [line, column] = line_column(text, e.byte);
    throw Error(fmt::format("{}: invalid JSON at line {} column {}: {}", context, line, column,
                            parse_error_detail(e.what())));
  } catch (const nlohmann::json::exception& e) {
    // e.g. a number too large for a double; nlohmann gives no position for these.
    std::string_view what = e.what();
    size_t tag_end = what.find("] ");
    if (tag_end != std::string_view::npos) what.remove_prefix(tag_end + 2);
    throw Error(fmt::format("{}: invalid JSON: {}", context, what));
  }
}

std::string_view json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "object";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
      return value.get<int64_t>() < 0 ? "negative integer" : "unsigned integer";
    case nlohmann::json::value_t::number_unsigned: return "unsigned integer";
    case nlohmann::json::value_t::number_float: return "floating-point number";
    case nlohmann::json::value_t::binary: return "binary";
    case nlohmann::json::value_t::discarded: return "discarded value";
  }
  return "unknown";
}

void throw_type_error(std::string_view where, std::string_view expected,
                      const nlohmann::json& got) {
  throw Error(fmt::format("{}: expected {}, got {}", where, expected, json_type_name(got)));
}

ObjectReader::ObjectReader(const nlohmann::json& value, std::string context,
                           std::initializer_list<std::string_view> known,
                           std::initializer_list<UnsupportedField> unsupported)
    : value_(value), context_(std::move(context)) {
  if (!value_.is_object()) throw_type_error(context_, "an object", value_);
  for (const auto& item : value_.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture those
    auto rejected = std::find_if(unsupported.begin(), unsupported.end(),
                                 [&](const UnsupportedField& u) { return u.key == key; });
    if (rejected != unsupported.end()) {
      // Null counts as absent here too: Firecracker clients send e.g. "socket": null for a plain drive.
      if (item.value().is_null()) continue;
      fail(key, rejected->reason);
    }
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw Error(fmt::format("{}: unknown field '{}'", context_, key));
    }
  }
}

std::string ObjectReader::path(std::string_view key) const {
  return fmt::format("{}.{}", context_, key);
}

const nlohmann::json* ObjectReader::get(std::string_view key) const {
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) return nullptr;
  return &*it;
}

const nlohmann::json& ObjectReader::required(std::string_view key) const {
  const nlohmann::json* field = get(key);
  if (field == nullptr) {
    throw Error(fmt::format("{}: missing required field '{}'", context_, key));
  }
  return *field;
}

void ObjectReader::fail(std::string_view key, std::string_view message) const {
  throw Error(fmt::format("{}: {}", path(key), message));
}

std::optional<std::string> ObjectReader::opt_string(std::string_view key) const {
  const nlohmann::json* field = get(key);
  if (field == nullptr) return std::nullopt;
  if (!field->is_string()) throw_type_error(path(key), "a string", *field);
  std::string value = field->get<std::string>();
  // A NUL would silently cut a path or name at the C boundary.
  if (value.find('\0') != std::string::npos) fail(key, "must not contain a NUL character (\\u0000)");
  return value;
}

std::string ObjectReader::string(std::string_view key) const {
  required(key);
  return *opt_string(key);
}

std::optional<std::string> ObjectReader::opt_nonempty_string(std::string_view key) const {
  auto s = opt_string(key);
  if (s && s->empty()) fail(key, "must not be empty");
  return s;
}

std::string ObjectReader::nonempty_string(std::string_view key) const {
  required(key);
  return *opt_nonempty_string(key);
}

std::optional<bool> ObjectReader::opt_boolean(std::string_view key) const {
  const nlohmann::json* field = get(key);
  if (field == nullptr) return std::nullopt;
  if (!field->is_boolean()) throw_type_error(path(key), "a boolean", *field);
  return field->get<bool>();
}

bool ObjectReader::boolean(std::string_view key) const {
  required(key);
  return *opt_boolean(key);
}

std::optional<uint64_t> ObjectReader::opt_unsigned_int(std::string_view key, uint64_t min,
                                                       uint64_t max) const {
  const nlohmann::json* field = get(key);
  if (field == nullptr) return std::nullopt;
  bool is_unsigned = field->is_number_unsigned() ||
                     (field->is_number_integer() && field->get<int64_t>() >= 0);
  if (!is_unsigned) throw_type_error(path(key), "an unsigned integer", *field);
  uint64_t v = field->get<uint64_t>();
  if (v < min || v > max) {
    fail(key, fmt::format("must be between {} and {}, got {}", min, max, v));
  }
  return v;
}

uint64_t ObjectReader::unsigned_int(std::string_view key, uint64_t min, uint64_t max) const {
  required(key);
  return *opt_unsigned_int(key, min, max);
}

}  // namespace hearth
