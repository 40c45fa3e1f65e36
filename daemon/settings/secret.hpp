#pragma once
// A credential from config: literal, `env:NAME` or `file:/path` (systemd LoadCredential).
#include <string>

namespace herald {

/// Holds a secret value; it has no stream operator on purpose, and `redacted()` is what
/// logs and API output may show.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value, std::string source = "literal")
      : value_(std::move(value)), source_(std::move(source)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  /// "env:NAME", "file:/path" or "(literal)" — where it came from, never what it is.
  const std::string& source() const { return source_; }
  static constexpr const char* redacted() { return "***"; }

 private:
  std::string value_;
  std::string source_;
};

/// Resolves `spec`; on failure returns false and sets `error`.
bool resolve_secret(const std::string& spec, Secret& out, std::string& error);

}  // namespace herald
