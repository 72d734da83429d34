#pragma once
// The MMDS data store: one JSON document with a size limit on its compact serialization, replaced by
// PUT and edited by JSON merge patch (RFC 7396). Not thread-safe (the Service locks).
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth::virtio::net::mmds {

class DataStoreError : public std::runtime_error {
 public:
  enum class Kind { TooLarge, NotInitialized };
  DataStoreError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

enum class OutputFormat { Json, Imds };

// What a GET of a path in the store gives.
struct Lookup {
  enum class Status { Ok, NotFound, UnsupportedType } status = Status::NotFound;
  std::string body;
};

class DataStore {
 public:
  explicit DataStore(size_t size_limit) : size_limit_(size_limit) {}

  void put(nlohmann::json data);
  void patch(const nlohmann::json& merge_patch);
  const nlohmann::json& value() const { return data_; }
  bool initialized() const { return initialized_; }
  size_t size_limit() const { return size_limit_; }

  // `path` is the request's absolute path ("/a/b/"); duplicate slashes are collapsed.
  Lookup lookup(std::string_view path, OutputFormat format) const;

 private:
  nlohmann::json data_ = nlohmann::json::object();
  bool initialized_ = false;
  size_t size_limit_;
};

// RFC 7396 merge of `patch` into `target`.
void merge_patch(nlohmann::json& target, const nlohmann::json& patch);

}  // namespace hearth::virtio::net::mmds
