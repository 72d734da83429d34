#include "vmm/seccomp/policy_file.h"

#include <set>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/seccomp/compile.h"
#include "vmm/seccomp/json_lines.h"

namespace hearth::seccomp {
namespace {

using nlohmann::json;

constexpr size_t kMaxPolicyBytes = 1 << 20;
const char* const kKinds[] = {"vmm", "api", "vcpu", "migration"};

class Reader {
 public:
  Reader(const JsonWithLines& doc, std::string path) : doc_(doc), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& pointer, const std::string& what) const {
    throw Error(fmt::format("{}:{}: {}", path_, doc_.line_of(pointer), what));
  }

  void only_keys(const json& obj, const std::string& pointer, const std::set<std::string>& keys) const {
    for (const auto& [k, v] : obj.items()) {
      if (!keys.count(k)) fail(pointer + "/" + k, fmt::format("unknown field '{}'", k));
    }
  }

  const json& object(const json& v, const std::string& pointer, const std::string& what) const {
    if (!v.is_object()) fail(pointer, what + " must be an object");
    return v;
  }

  Action action(const json& v, const std::string& pointer) const {
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (s == "allow") return {Action::Kind::kAllow, 0};
      if (s == "trap") return {Action::Kind::kTrap, 0};
      if (s == "kill_process" || s == "kill") return {Action::Kind::kKillProcess, 0};
      if (s == "kill_thread") return {Action::Kind::kKillThread, 0};
      if (s == "log") return {Action::Kind::kLog, 0};
      fail(pointer, fmt::format("unknown action '{}' (allow, trap, kill_process, kill_thread, log or {{\"errno\": N}})", s));
    }
    if (v.is_object() && v.size() == 1 && v.contains("errno")) {
      const json& e = v["errno"];
      if (!e.is_number_unsigned() || e.get<uint64_t>() > 4095) fail(pointer + "/errno", "errno must be 0-4095");
      return {Action::Kind::kErrno, e.get<int>()};
    }
    fail(pointer, "an action is a string (allow, trap, kill_process, kill_thread, log) or {\"errno\": N}");
  }

  ArgCheck arg(const json& v, const std::string& pointer) const {
    object(v, pointer, "an argument check");
    only_keys(v, pointer, {"index", "type", "op", "val", "comment"});
    ArgCheck c;
    if (!v.contains("index") || !v["index"].is_number_unsigned() || v["index"].get<uint64_t>() > 5) {
      fail(pointer + "/index", "'index' must be an argument number 0-5");
    }
    c.index = v["index"].get<unsigned>();
    const std::string type = v.value("type", "qword");
    if (type != "dword" && type != "qword") fail(pointer + "/type", "'type' must be \"dword\" or \"qword\"");
    c.dword = type == "dword";
    if (v.contains("val") && v["val"] == "self_pid") {
      c.own_pid = true;  // Hearth extension: the pid of the hearth that loads the policy
    } else if (!v.contains("val") || !v["val"].is_number_unsigned()) {
      fail(pointer + "/val", "'val' must be an unsigned number or \"self_pid\"");
    } else {
      c.value = v["val"].get<uint64_t>();
    }
    if (c.dword && c.value > 0xffffffffu) fail(pointer + "/val", "'val' does not fit a dword");
    if (!v.contains("op")) fail(pointer, "missing 'op'");
    const json& op = v["op"];
    static const std::map<std::string, CmpOp> ops = {{"eq", CmpOp::kEq}, {"ne", CmpOp::kNe}, {"lt", CmpOp::kLt},
                                                     {"le", CmpOp::kLe}, {"gt", CmpOp::kGt}, {"ge", CmpOp::kGe}};
    if (op.is_string() && ops.count(op.get<std::string>())) {
      c.op = ops.at(op.get<std::string>());
    } else if (op.is_object() && op.size() == 1 && op.contains("masked_eq") && op["masked_eq"].is_number_unsigned()) {
      c.op = CmpOp::kMaskedEq;
      c.mask = op["masked_eq"].get<uint64_t>();
    } else {
      fail(pointer + "/op", "'op' must be eq, ne, lt, le, gt, ge or {\"masked_eq\": MASK}");
    }
    return c;
  }

  Rule rule(const json& v, const std::string& pointer, const Action& filter_action) const {
    object(v, pointer, "a filter entry");
    only_keys(v, pointer, {"syscall", "args", "action", "comment"});
    if (!v.contains("syscall") || !v["syscall"].is_string()) fail(pointer, "a filter entry needs \"syscall\": NAME");
    Rule r;
    r.syscall = v["syscall"].get<std::string>();
    if (syscall_number(r.syscall) < 0) fail(pointer + "/syscall", fmt::format("unknown syscall '{}'", r.syscall));
    r.action = v.contains("action") ? action(v["action"], pointer + "/action") : filter_action;
    if (v.contains("args")) {
      if (!v["args"].is_array()) fail(pointer + "/args", "'args' must be an array");
      std::set<unsigned> indexes;
      for (size_t i = 0; i < v["args"].size(); ++i) {
        const std::string p = pointer + "/args/" + std::to_string(i);
        r.args.push_back(arg(v["args"][i], p));
        // libseccomp takes one comparison per argument in a rule; two would silently be one.
        if (!indexes.insert(r.args.back().index).second) fail(p, "two checks on one argument (write two entries)");
      }
    }
    return r;
  }

  Filter filter(const json& v, const std::string& pointer) const {
    object(v, pointer, "a thread kind's filter");
    only_keys(v, pointer, {"default_action", "filter_action", "filter", "comment"});
    Filter f;
    f.default_action = v.contains("default_action") ? action(v["default_action"], pointer + "/default_action")
                                                     : Action{Action::Kind::kTrap, 0};
    const Action filter_action =
        v.contains("filter_action") ? action(v["filter_action"], pointer + "/filter_action") : Action{};
    if (!v.contains("filter") || !v["filter"].is_array()) fail(pointer, "missing \"filter\": [ ... ]");
    for (size_t i = 0; i < v["filter"].size(); ++i) {
      f.rules.push_back(rule(v["filter"][i], pointer + "/filter/" + std::to_string(i), filter_action));
    }
    return f;
  }

 private:
  const JsonWithLines& doc_;
  std::string path_;
};

json action_json(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kAllow: return "allow";
    case Action::Kind::kErrno: return {{"errno", a.errno_value}};
    case Action::Kind::kTrap: return "trap";
    case Action::Kind::kKillProcess: return "kill_process";
    case Action::Kind::kKillThread: return "kill_thread";
    case Action::Kind::kLog: return "log";
  }
  return "kill_process";
}

}  // namespace

Policy parse_policy(const std::string& text, const std::string& path) {
  const JsonWithLines doc = parse_json_with_lines(text, path);
  Reader reader(doc, path);
  reader.object(doc.value, "", "the policy");
  std::set<std::string> kinds(std::begin(kKinds), std::end(kKinds));
  for (const auto& [k, v] : doc.value.items()) {
    if (!kinds.count(k)) reader.fail("/" + k, fmt::format("unknown thread kind '{}' (vmm, api, vcpu, migration)", k));
  }
  Policy policy;
  for (const char* kind : kKinds) {
    // A kind without a filter would run unconfined: refuse, rather than guess.
    if (!doc.value.contains(kind)) reader.fail("", fmt::format("no filter for thread kind '{}'", kind));
    policy[kind] = reader.filter(doc.value[kind], std::string("/") + kind);
  }
  return policy;
}

Policy read_policy_file(const std::string& path) {
  const auto bytes = read_host_stream(path, "--seccomp-filter", kMaxPolicyBytes, 10000);
  return parse_policy(std::string(bytes.begin(), bytes.end()), path);
}

json policy_to_json(const Policy& policy) {
  static const char* const ops[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  json out = json::object();
  for (const auto& [kind, f] : policy) {
    json rules = json::array();
    for (const Rule& r : f.rules) {
      json entry = {{"syscall", r.syscall}};
      if (!(r.action == Action{})) entry["action"] = action_json(r.action);
      for (const ArgCheck& c : r.args) {
        json a = {{"index", c.index}, {"type", c.dword ? "dword" : "qword"}, {"val", c.value}};
        if (c.own_pid) a["val"] = "self_pid";
        a["op"] = c.op == CmpOp::kMaskedEq ? json{{"masked_eq", c.mask}} : json(ops[static_cast<int>(c.op)]);
        entry["args"].push_back(a);
      }
      rules.push_back(entry);
    }
    out[kind] = {{"default_action", action_json(f.default_action)}, {"filter_action", "allow"}, {"filter", rules}};
  }
  return out;
}

}  // namespace hearth::seccomp
