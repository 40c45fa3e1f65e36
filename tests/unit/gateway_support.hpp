#pragma once
// Helpers for gateway tests: build a gateway from YAML as config does, read table-driven
// cases from an adapter's testdata/, and turn JSON fixtures into HTTP answers.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <gtest/gtest.h>

#include "settings/diagnostics.hpp"
#include "settings/yaml_reader.hpp"
#include "adapters/registry.hpp"
#include "support.hpp"

namespace herald::test {

/// A gateway from its YAML (the value under `gateways.<name>:`); a failure when the
/// YAML is refused.
inline std::shared_ptr<Gateway> gateway_from_yaml(const std::string& name, const std::string& yaml) {
  Diagnostics diag("F");
  auto node = load_yaml_string(yaml, diag);
  std::shared_ptr<Gateway> g;
  if (node) g = make_gateway(name, *node, diag);
  for (const auto& e : diag.errors()) ADD_FAILURE() << e.str();
  if (!diag.ok()) return nullptr;
  return g;
}

/// What make_gateway refuses in `yaml`, as "F:LINE:COL: message" lines.
inline std::vector<std::string> gateway_errors(const std::string& name, const std::string& yaml) {
  Diagnostics diag("F");
  auto node = load_yaml_string(yaml, diag);
  if (node) make_gateway(name, *node, diag);
  std::vector<std::string> out;
  for (const auto& e : diag.errors()) out.push_back(e.str());
  return out;
}

/// The "# expect: ..." lines at the top of a config error case.
inline std::vector<std::string> expected_errors(const std::string& text) {
  std::vector<std::string> out;
  constexpr std::string_view kExpect = "# expect: ";
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (line.rfind(kExpect, 0) == 0) out.push_back(line.substr(kExpect.size()));
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

/// File stems with `ext` in `dir`, sorted.
inline std::vector<std::string> files_in(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}


/// One table-driven case: its name and its JSON.
struct Case {
  std::string name;
  boost::json::object data;
};

inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " " << c.data; }

/// The cases of a JSON array file, each an object with a "name".
inline std::vector<Case> read_cases(const std::string& path) {
  std::vector<Case> out;
  boost::json::value v = boost::json::parse(read_file(path));
  for (const auto& c : v.as_array())
    out.push_back({std::string(c.at("name").as_string()), c.as_object()});
  return out;
}

inline std::string str(const boost::json::object& o, const char* key, std::string def = {}) {
  auto it = o.find(key);
  return it == o.end() || it->value().is_null() ? def : std::string(it->value().as_string());
}

/// An HTTP answer from a fixture: {"status": 202, "body": "...", "curl": 7, "error": "..."}.
inline net::HttpResponse response_from(const boost::json::object& o) {
  net::HttpResponse r;
  if (auto* s = o.if_contains("status")) r.status = static_cast<long>(s->to_number<int64_t>());
  r.body = str(o, "body");
  if (auto* c = o.if_contains("curl")) r.result = static_cast<CURLcode>(c->to_number<int>());
  r.error = str(o, "error");
  return r;
}

/// Decoded query parameters of a URL, in order (keys may repeat).
inline std::vector<std::pair<std::string, std::string>> query_of(const std::string& url) {
  std::vector<std::pair<std::string, std::string>> out;
  auto u = boost::urls::parse_uri(url);
  if (!u) {
    ADD_FAILURE() << "not a URL: " << url;
    return out;
  }
  // Decoded strictly by RFC 3986 ('+' is a literal plus): what Kannel's CGI parser sees
  // once the percent escapes are undone.
  for (auto p : u->params(boost::urls::encoding_opts(false, false, false)))
    out.emplace_back(std::string(p.key), std::string(p.value));
  return out;
}

}  // namespace herald::test
