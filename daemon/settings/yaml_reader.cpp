#include "settings/yaml_reader.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include <yaml-cpp/depthguard.h>

#include "core/time.hpp"

namespace herald {

namespace {

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
  }
}

}  // namespace

MapReader::MapReader(const YAML::Node& node, Diagnostics& diag, std::string what,
                     std::optional<YAML::Mark> at)
    : node_(node), diag_(diag), what_(std::move(what)) {
  is_map_ = node_.IsMap();
  if (!is_map_) {
    diag_.error(at.value_or(node_.Mark()), what_ + " must be a map, found " + type_name(node_));
    return;
  }
  std::map<std::string, int> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      diag_.error(kv.first.Mark(), what_ + ": keys must be plain strings");
      continue;
    }
    if (seen[kv.first.Scalar()]++)
      diag_.error(kv.first.Mark(), what_ + ": duplicate key \"" + kv.first.Scalar() + "\"");
  }
}

YAML::Node MapReader::child(const std::string& key, bool required) {
  known_.insert(key);
  if (!is_map_) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : node_)
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  if (required) diag_.error(node_.Mark(), what_ + ": missing required key \"" + key + "\"");
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Mark MapReader::mark(const std::string& key) const {
  if (is_map_)
    for (const auto& kv : node_)
      if (kv.first.IsScalar() && kv.first.Scalar() == key)
        return kv.second.IsNull() ? kv.first.Mark() : kv.second.Mark();
  return node_.Mark();
}

std::optional<std::string> MapReader::string(const std::string& key, bool required) {
  YAML::Node n = child(key, required);
  if (!n.IsDefined()) return std::nullopt;
  return scalar_string(n, diag_, what_ + "." + key, mark(key));
}

std::optional<int64_t> MapReader::integer(const std::string& key, int64_t min, int64_t max,
                                          bool required) {
  YAML::Node n = child(key, required);
  if (!n.IsDefined()) return std::nullopt;
  std::string name = what_ + "." + key;
  if (!n.IsScalar()) {
    diag_.error(mark(key), name + " must be an integer, found " + type_name(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used, 10);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != s.size()) {
    diag_.error(n.Mark(), name + " must be an integer, found \"" + s + "\"");
    return std::nullopt;
  }
  if (v < min || v > max) {
    diag_.error(n.Mark(), name + " must be between " + std::to_string(min) + " and " +
                              std::to_string(max) + ", found " + s);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> MapReader::boolean(const std::string& key) {
  YAML::Node n = child(key);
  if (!n.IsDefined()) return std::nullopt;
  std::string name = what_ + "." + key;
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  diag_.error(mark(key), name + " must be true or false");
  return std::nullopt;
}

std::optional<int64_t> MapReader::duration_ms(const std::string& key, bool required) {
  YAML::Node n = child(key, required);
  if (!n.IsDefined()) return std::nullopt;
  std::string name = what_ + "." + key;
  if (n.IsScalar()) {
    if (auto ms = parse_duration_ms(n.Scalar())) return ms;
    if (duration_too_long(n.Scalar())) {
      diag_.error(mark(key), name + " is longer than 100 years (876600h)");
      return std::nullopt;
    }
  }
  diag_.error(mark(key), name + " must be a duration such as 500ms, 30s, 5m or 2h");
  return std::nullopt;
}

std::optional<int64_t> MapReader::positive_duration_ms(const std::string& key, bool required) {
  auto v = duration_ms(key, required);
  if (v && *v <= 0) {
    diag_.error(mark(key), what_ + "." + key + " must be more than zero");
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> MapReader::string_list(const std::string& key,
                                                               bool required) {
  YAML::Node n = child(key, required);
  if (!n.IsDefined()) return std::nullopt;
  std::string name = what_ + "." + key;
  if (!n.IsSequence()) {
    diag_.error(mark(key), name + " must be a list, found " + type_name(n));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < n.size(); ++i) {
    auto s = scalar_string(n[i], diag_, name + "[" + std::to_string(i) + "]");
    if (s) out.push_back(*s);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Secret> MapReader::secret(const std::string& key, bool required) {
  YAML::Node n = child(key, required);
  if (!n.IsDefined()) return std::nullopt;
  auto spec = scalar_string(n, diag_, what_ + "." + key, mark(key));
  if (!spec) return std::nullopt;
  Secret out;
  std::string error;
  if (!resolve_secret(*spec, out, error)) {
    diag_.error(n.Mark(), what_ + "." + key + ": " + error);
    return std::nullopt;
  }
  return out;
}

void MapReader::finish() {
  if (!is_map_) return;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar() || known_.count(kv.first.Scalar())) continue;
    std::string hint;
    for (const auto& k : known_) hint += (hint.empty() ? "" : ", ") + k;
    diag_.error(kv.first.Mark(), what_ + ": unknown key \"" + kv.first.Scalar() +
                                     "\" (expected one of: " + hint + ")");
  }
}

std::optional<std::string> scalar_string(const YAML::Node& n, Diagnostics& d,
                                         const std::string& what) {
  return scalar_string(n, d, what, n.Mark());
}

std::optional<std::string> scalar_string(const YAML::Node& n, Diagnostics& d,
                                         const std::string& what, const YAML::Mark& at) {
  if (!n.IsScalar()) {
    d.error(at, what + " must be a string, found " + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<YAML::Node> load_yaml_string(const std::string& text, Diagnostics& diag) {
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp refuses deep nesting (before the stack runs out) but calls it "bad file".
    diag.error(e.mark, "YAML nested too deeply: lists and maps may nest " + std::to_string(e.depth() - 1) +
                           " levels at most");
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

std::optional<YAML::Node> load_yaml_file(const std::string& path, Diagnostics& diag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(1, 1, "cannot open file");
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_yaml_string(ss.str(), diag);
}

}  // namespace herald
