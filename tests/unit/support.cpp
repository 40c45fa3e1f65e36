#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace herald::test {

std::string source_path(const std::string& relative) {
  return (std::filesystem::path(HERALD_SOURCE_DIR) / relative).string();
}

std::string testdata_path(const std::string& relative) {
  return (std::filesystem::path(HERALD_TESTDATA_DIR) / relative).string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << text;
}

std::vector<std::vector<std::string>> read_table(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      cells.push_back(line.substr(start, tab - start));
    cells.push_back(line.substr(start));
    rows.push_back(std::move(cells));
  }
  return rows;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/herald-unit-XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::shared_ptr<const Directory> example_directory() {
  static const std::shared_ptr<const Directory> dir = [] {
    std::vector<ConfigError> errors;
    auto d = load_directory(source_path("config/directory.example.yaml"), errors);
    for (const auto& e : errors) ADD_FAILURE() << e.str();
    if (!d) throw std::runtime_error("config/directory.example.yaml does not load");
    return std::make_shared<const Directory>(std::move(*d));
  }();
  return dir;
}

Config config_with(std::shared_ptr<const Directory> dir, std::vector<Channel> enabled) {
  Config c;
  c.directory = std::move(dir);
  for (Channel ch : kAllChannels) c.channels[ch].enabled = false;
  for (Channel ch : enabled) c.channels[ch].enabled = true;
  return c;
}

const std::string& seed_json() {
  static const std::string text = read_file(source_path("tests/data/seed-158-CV-HU.json"));
  return text;
}

}  // namespace herald::test
