#pragma once
// Shared fixtures for the unit tests: paths into the source tree, temporary folders,
// the example directory and the seed directive.
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "directory/directory.hpp"
#include "store/store.hpp"

namespace herald::test {

/// A path under the repository root (HERALD_SOURCE_DIR), e.g. "config/herald.example.yaml".
std::string source_path(const std::string& relative);
/// A path under tests/unit/testdata.
std::string testdata_path(const std::string& relative);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

/// Tab-separated rows of a testdata table; blank lines and lines starting with '#' are
/// skipped.
std::vector<std::vector<std::string>> read_table(const std::string& path);

/// A parameterised test's name from a case's name: letters and digits, the rest '_'.
inline std::string test_name(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

/// A fresh folder under $TMPDIR (or /tmp), removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// config/directory.example.yaml, loaded once; the test fails if it does not load.
std::shared_ptr<const Directory> example_directory();

/// A Config over `dir` with the given channels enabled (all four by default).
Config config_with(std::shared_ptr<const Directory> dir,
                   std::vector<Channel> enabled = {kAllChannels.begin(), kAllChannels.end()});

/// tests/data/seed-158-CV-HU.json, the directive 158-CV/HU of Huyện ủy Châu Thành.
const std::string& seed_json();
inline constexpr const char* kSeedId = "hu-chauthanh/158-CV/HU/2021";

/// True when the store suites run on PostgreSQL (HERALD_TEST_STORE=postgres).
bool postgres_mode();
/// The conninfo of a PostgreSQL store of its own for `path` (a schema named after it, in
/// the database HERALD_TEST_PG names, or `herald_unit` on the server scripts/services
/// runs); the schema is created now and dropped when the test process ends.
std::string postgres_conninfo(const std::string& path);
/// The store the suites test: SQLite at `path`, or in postgres_mode() the PostgreSQL
/// store for `path`, as instance `instance`. Opening the same path again reopens it.
std::unique_ptr<Store> open_store(const std::string& path, const std::string& instance = "unit",
                                  int64_t busy_timeout_ms = 5000);

}  // namespace herald::test
