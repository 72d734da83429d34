#pragma once
// What a Controller operation returns: a value, or a fault message with its HTTP status.
#include <string>
#include <utility>
#include <variant>

namespace hearth::api {

struct Fault {
  int status = 400;  // Firecracker answers 400 for nearly every failure
  std::string message;
};

template <typename T = std::monostate>
class Result {
 public:
  Result() requires std::is_same_v<T, std::monostate> : v_(std::monostate{}) {}
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Fault fault) : v_(std::move(fault)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  const Fault& fault() const { return std::get<Fault>(v_); }

 private:
  std::variant<T, Fault> v_;
};

inline Fault bad_request(std::string message) { return Fault{400, std::move(message)}; }

}  // namespace hearth::api
