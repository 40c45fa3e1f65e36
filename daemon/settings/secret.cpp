#include "settings/secret.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "settings/redact.hpp"
#include "net/url.hpp"

namespace herald {

namespace {

std::mutex remembered_mu;
std::vector<std::string> remembered;  // every form of every secret, longest first

}  // namespace

void remember_secret(const std::string& value) {
  if (value.size() < kMinRedactedSecret) return;
  std::vector<std::string> forms{value, net::percent_encode(value)};
  std::string lower = forms[1];
  for (size_t i = 0; i + 2 < lower.size(); ++i)
    if (lower[i] == '%') {
      lower[i + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[i + 1])));
      lower[i + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[i + 2])));
    }
  forms.push_back(lower);
  std::string json;
  for (char c : value) {
    if (c == '"' || c == '\\') json += '\\';
    json += c;
  }
  forms.push_back(json);
  std::lock_guard lock(remembered_mu);
  for (auto& f : forms)
    if (std::find(remembered.begin(), remembered.end(), f) == remembered.end()) remembered.push_back(std::move(f));
  // Longest first: a secret that contains another is scrubbed whole.
  std::stable_sort(remembered.begin(), remembered.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string redact_secrets(std::string text) {
  const std::string mask = Secret::redacted();
  std::lock_guard lock(remembered_mu);
  for (const auto& s : remembered)
    for (size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + mask.size()))
      text.replace(at, s.size(), mask);
  return text;
}

void forget_secrets() {
  std::lock_guard lock(remembered_mu);
  remembered.clear();
}

bool resolve_secret(const std::string& spec, Secret& out, std::string& error) {
  if (spec.rfind("env:", 0) == 0) {
    std::string name = spec.substr(4);
    if (name.empty()) {
      error = "secret \"env:\" names no environment variable";
      return false;
    }
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) {
      error = "environment variable " + name + " is not set or empty";
      return false;
    }
    out = Secret(v, spec);
    remember_secret(out.reveal());
    return true;
  }
  if (spec.rfind("file:", 0) == 0) {
    std::string path = spec.substr(5);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      error = "cannot read secret file " + path;
      return false;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    if (v.empty()) {
      error = "secret file " + path + " is empty";
      return false;
    }
    out = Secret(std::move(v), spec);
    remember_secret(out.reveal());
    return true;
  }
  out = Secret(spec, "(literal)");
  remember_secret(spec);
  return true;
}

}  // namespace herald
