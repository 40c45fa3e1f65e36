#include "settings/diagnostics.hpp"

#include <yaml-cpp/yaml.h>

namespace herald {

std::string ConfigError::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

void Diagnostics::error(const YAML::Mark& at, std::string message) {
  // yaml-cpp marks are 0-based; a null mark (-1) means "no position known".
  error(at.line < 0 ? 1 : at.line + 1, at.column < 0 ? 1 : at.column + 1, std::move(message));
}

void Diagnostics::error(int line, int column, std::string message) {
  errors_.push_back({file_, line, column, std::move(message)});
}

void Diagnostics::absorb(const Diagnostics& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
}

}  // namespace herald
