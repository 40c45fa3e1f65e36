#pragma once
// Plain-text tables for heraldctl, aligned by display width (Vietnamese text is UTF-8).
#include <string>
#include <vector>

namespace herald::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

/// Code points, which is what a terminal shows for precomposed Vietnamese text.
size_t display_width(const std::string& s);

}  // namespace herald::ctl
