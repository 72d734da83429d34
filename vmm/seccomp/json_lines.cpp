#include "vmm/seccomp/json_lines.h"

#include <iterator>
#include <vector>

#include "vmm/base/error.h"

namespace hearth::seccomp {
namespace {

using nlohmann::json;

// Counts lines as the lexer pulls characters; `token_line` is the line of the last character that
// was not white space, i.e. of the token the parser just finished (the lexer reads one past a number).
struct Position {
  int line = 1;
  int token_line = 1;
};

class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  CountingIterator(const char* p, Position* pos) : p_(p), pos_(pos) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {  // the lexer consumes *p_
    if (*p_ != ' ' && *p_ != '\n' && *p_ != '\t' && *p_ != '\r') pos_->token_line = pos_->line;
    if (*p_ == '\n') ++pos_->line;
    ++p_;
    return *this;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  Position* pos_;
};

std::string escape_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

// Builds the DOM and the line table together.
class Builder : public nlohmann::json_sax<json> {
 public:
  explicit Builder(const Position& pos) : pos_(pos) {}
  JsonWithLines result;
  std::string error;

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(json(v)); }
  bool string(string_t& v) override { return put(json(v)); }
  bool binary(binary_t& v) override { return put(json(v)); }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.what();
    return false;
  }

 private:
  struct Frame {
    json* node;
    std::string pointer;
  };
  // Where the next value goes: its pointer, and a slot in the parent (or the root).
  json* slot(std::string& pointer) {
    if (stack_.empty()) {
      pointer = "";
      return &result.value;
    }
    Frame& top = stack_.back();
    if (top.node->is_array()) {
      pointer = top.pointer + "/" + std::to_string(top.node->size());
      top.node->push_back(nullptr);
      return &top.node->back();
    }
    pointer = top.pointer + "/" + escape_token(key_);
    return &(*top.node)[key_];
  }
  bool put(json v) {
    std::string pointer;
    *slot(pointer) = std::move(v);
    result.lines[pointer] = pos_.token_line;
    return true;
  }
  bool open(json v) {
    std::string pointer;
    json* node = slot(pointer);
    *node = std::move(v);
    result.lines[pointer] = pos_.token_line;
    stack_.push_back({node, pointer});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
  const Position& pos_;
  std::vector<Frame> stack_;
  std::string key_;
};

}  // namespace

int JsonWithLines::line_of(const std::string& pointer) const {
  std::string p = pointer;
  for (;;) {
    if (auto it = lines.find(p); it != lines.end()) return it->second;
    if (p.empty()) return 1;
    p.erase(p.rfind('/'));
  }
}

JsonWithLines parse_json_with_lines(const std::string& text, const std::string& path) {
  Position pos;
  Builder builder(pos);
  const char* begin = text.c_str();
  const bool ok = json::sax_parse(CountingIterator(begin, &pos), CountingIterator(begin + text.size(), &pos), &builder);
  if (!ok) {
    std::string what = builder.error;
    // nlohmann's message starts "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    if (auto at = what.find("parse error"); at != std::string::npos) what = what.substr(at);
    throw Error(fmt::format("{}:{}: {}", path, pos.line, what));
  }
  return std::move(builder.result);
}

}  // namespace hearth::seccomp
