#pragma once
// Errors found while reading configuration, each pinned to FILE:LINE:COL.
#include <string>
#include <vector>

namespace YAML { struct Mark; }

namespace herald {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based
  int column = 0;  // 1-based
  std::string message;
  std::string str() const;  // "FILE:LINE:COL: message"
};

/// Collects every error of one file instead of stopping at the first, so an operator
/// fixes a config in one pass.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  void error(const YAML::Mark& at, std::string message);
  void error(int line, int column, std::string message);
  const std::string& file() const { return file_; }
  const std::vector<ConfigError>& errors() const { return errors_; }
  bool ok() const { return errors_.empty(); }
  void absorb(const Diagnostics& other);

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace herald
