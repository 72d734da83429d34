#include "virtio/net/mmds/data_store.h"

namespace hearth::virtio::net::mmds {
namespace {

constexpr const char* kTooLarge = "The MMDS patch request doesn't fit.";

size_t serialized_size(const nlohmann::json& value) { return value.dump().size(); }

// Collapses "//" runs so the path is a strict JSON pointer.
std::string sanitize(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  return out;
}

}  // namespace

void merge_patch(nlohmann::json& target, const nlohmann::json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = nlohmann::json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) target.erase(key);
    else merge_patch(target[key], value);
  }
}

void DataStore::put(nlohmann::json data) {
  if (serialized_size(data) > size_limit_) throw DataStoreError(DataStoreError::Kind::TooLarge, kTooLarge);
  data_ = std::move(data);
  initialized_ = true;
}

void DataStore::patch(const nlohmann::json& patch) {
  if (!initialized_)
    throw DataStoreError(DataStoreError::Kind::NotInitialized, "The MMDS data store is not initialized.");
  nlohmann::json copy = data_;
  merge_patch(copy, patch);
  if (serialized_size(copy) > size_limit_) throw DataStoreError(DataStoreError::Kind::TooLarge, kTooLarge);
  data_ = std::move(copy);
}

Lookup DataStore::lookup(std::string_view raw_path, OutputFormat format) const {
  std::string path = sanitize(raw_path);
  // A trailing "/" names the same node ("/a/" is "/a"); "/" alone is the root.
  if (!path.empty() && path.back() == '/') path.pop_back();
  const nlohmann::json* node = &data_;
  try {
    if (!path.empty()) {
      nlohmann::json::json_pointer pointer(path);
      if (!data_.contains(pointer)) return {};
      node = &data_.at(pointer);
    }
  } catch (const nlohmann::json::exception&) {
    return {};  // not a valid pointer ("~2", an array index out of range, ...)
  }
  if (format == OutputFormat::Json) return {Lookup::Status::Ok, node->dump()};
  if (node->is_string()) return {Lookup::Status::Ok, node->get<std::string>()};
  if (!node->is_object()) return {Lookup::Status::UnsupportedType, {}};
  std::string body;
  for (const auto& [key, value] : node->items()) {
    if (!body.empty()) body += '\n';
    body += key;
    if (value.is_object()) body += '/';
  }
  return {Lookup::Status::Ok, std::move(body)};
}

}  // namespace hearth::virtio::net::mmds
