#pragma once
// Typed, position-aware reading of YAML maps: every problem becomes a FILE:LINE:COL error.
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "settings/diagnostics.hpp"
#include "settings/secret.hpp"

namespace herald {

/// Reads one YAML mapping. Each getter records the key as known; `finish()` reports the
/// keys nobody asked for (typos such as `prefech:` are errors, not silently ignored).
class MapReader {
 public:
  /// `at` is where to point when `node` is not a map (default: the node itself); pass the
  /// parent's `mark(key)` so an empty value is reported at its key.
  MapReader(const YAML::Node& node, Diagnostics& diag, std::string what,
            std::optional<YAML::Mark> at = std::nullopt);
  bool is_map() const { return is_map_; }
  const std::string& what() const { return what_; }
  const YAML::Node& node() const { return node_; }
  Diagnostics& diag() { return diag_; }

  /// The raw child node, or an undefined node when absent (and an error when required).
  YAML::Node child(const std::string& key, bool required = false);
  /// Where to point for a problem with `key`'s value: the value, or the key itself when the
  /// value is empty (yaml-cpp marks an empty value at the next token, often the next line).
  YAML::Mark mark(const std::string& key) const;
  std::optional<std::string> string(const std::string& key, bool required = false);
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max,
                                 bool required = false);
  std::optional<bool> boolean(const std::string& key);
  std::optional<int64_t> duration_ms(const std::string& key, bool required = false);
  /// A duration that must be more than zero (timeouts: 0 would mean "never" or "always").
  std::optional<int64_t> positive_duration_ms(const std::string& key, bool required = false);
  std::optional<std::vector<std::string>> string_list(const std::string& key,
                                                      bool required = false);
  std::optional<Secret> secret(const std::string& key, bool required = false);

  void finish();

 private:
  YAML::Node node_;
  Diagnostics& diag_;
  std::string what_;
  bool is_map_ = false;
  std::set<std::string> known_;
};

/// Scalar helpers for nodes that are not map values (list items).
std::optional<std::string> scalar_string(const YAML::Node& n, Diagnostics& d,
                                         const std::string& what);
std::optional<std::string> scalar_string(const YAML::Node& n, Diagnostics& d,
                                         const std::string& what, const YAML::Mark& at);

/// Loads a YAML file, reporting a syntax error with its position. Nullopt on failure.
std::optional<YAML::Node> load_yaml_file(const std::string& path, Diagnostics& diag);
std::optional<YAML::Node> load_yaml_string(const std::string& text, Diagnostics& diag);

}  // namespace herald
