#include "config/secret.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace herald {

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
    return true;
  }
  out = Secret(spec, "(literal)");
  return true;
}

}  // namespace herald
