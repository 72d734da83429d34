#include "vmm/metrics/registry.h"

#include <cctype>
#include <chrono>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::metrics {
namespace {

void check_name(std::string_view name) {
  bool part_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (part_empty) break;
      part_empty = true;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      part_empty = false;
    } else {
      part_empty = true;
      break;
    }
  }
  if (part_empty) throw Error(fmt::format("metrics: invalid counter name '{}'", name));
}

}  // namespace

Counter& Registry::counter(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = counters_.find(name);
  if (it != counters_.end()) return *it->second;
  check_name(name);
  auto [inserted, _] = counters_.emplace(std::string(name), std::make_unique<Counter>());
  return *inserted->second;
}

std::vector<Registry::Sample> Registry::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<Sample> out;
  out.reserve(counters_.size());
  for (const auto& [name, c] : counters_) out.push_back({name, c->get()});
  return out;
}

namespace {

std::string prometheus_name(std::string_view prefix, std::string_view name) {
  std::string metric = fmt::format("{}_{}", prefix, name);
  for (char& c : metric) {
    if (c == '.') c = '_';
  }
  return metric;
}

// Label values escape backslash, quote and newline (the text exposition format).
std::string label_value(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Registry::set_text(std::string_view name, std::string value) {
  counter(name);  // the same name checks; the counter stays 0 and is not rendered
  std::lock_guard lock(mutex_);
  texts_[std::string(name)] = std::move(value);
}

std::string Registry::text(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = texts_.find(name);
  return it == texts_.end() ? std::string() : it->second;
}

std::string Registry::render_prometheus(std::string_view prefix) const {
  std::string out;
  std::map<std::string, std::string, std::less<>> texts;
  {
    std::lock_guard lock(mutex_);
    texts = texts_;
  }
  for (const Sample& s : snapshot()) {
    const std::string metric = prometheus_name(prefix, s.name);
    if (auto t = texts.find(s.name); t != texts.end()) {
      out += fmt::format("# TYPE {}_info gauge\n{}_info{{value=\"{}\"}} 1\n", metric, metric, label_value(t->second));
      continue;
    }
    out += fmt::format("# TYPE {} counter\n{} {}\n", metric, metric, s.value);
  }
  return out;
}

nlohmann::json Registry::take_deltas_json() {
  nlohmann::json out = nlohmann::json::object();
  auto now = std::chrono::system_clock::now().time_since_epoch();
  out["utc_timestamp_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  std::lock_guard lock(mutex_);
  for (const auto& [name, c] : counters_) {
    nlohmann::json* node = &out;
    size_t start = 0;
    for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', start)) {
      nlohmann::json& child = (*node)[name.substr(start, dot - start)];
      // A name that is both a leaf and a group ("a" and "a.b") keeps the leaf under "value".
      if (!child.is_object() && !child.is_null()) child = {{"value", child}};
      node = &child;
      start = dot + 1;
    }
    nlohmann::json& leaf = (*node)[name.substr(start)];
    if (auto t = texts_.find(name); t != texts_.end()) {
      leaf = t->second;
      continue;
    }
    if (leaf.is_object()) {
      leaf["value"] = c->take_delta();
    } else {
      leaf = c->take_delta();
    }
  }
  return out;
}

Registry& global() {
  static Registry registry;
  return registry;
}

}  // namespace hearth::metrics
