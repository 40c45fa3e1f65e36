#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <functional>
#include <mutex>
#include <set>

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

bool postgres_mode() {
  const char* v = std::getenv("HERALD_TEST_STORE");
  return v && std::string(v) == "postgres";
}

namespace {

// The server's conninfo without a database: HERALD_TEST_PG, else what scripts/services
// wrote to <state>/env.
std::string server_conninfo() {
  if (const char* v = std::getenv("HERALD_TEST_PG")) return v;
  const char* state = std::getenv("HERALD_STATE_DIR");
  const std::string env = state ? std::string(state) + "/env" : source_path(".state/env");
  std::ifstream in(env);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("HERALD_PG_CONNINFO=", 0) == 0) {
      std::string v = line.substr(19);
      if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
      return v;
    }
  throw std::runtime_error("HERALD_TEST_STORE=postgres, but neither HERALD_TEST_PG nor " + env +
                           " names a server: run scripts/services start postgres");
}

void run_sql(const std::string& conninfo, const std::string& sql, bool ignore_errors = false) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to PostgreSQL (" + conninfo + "): " + msg);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  std::string msg = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok && !ignore_errors) throw std::runtime_error("PostgreSQL: " + sql + ": " + msg);
}

std::mutex schemas_mu;
std::set<std::string>* schemas = nullptr;  // created by this process, dropped at exit

std::string database_conninfo() {
  static const std::string conninfo = [] {
    const std::string server = server_conninfo();
    if (server.find("dbname=") != std::string::npos) return server;
    // Created once; a second process racing to create it gets "already exists".
    run_sql(server + " dbname=postgres", "CREATE DATABASE herald_unit", true);
    return server + " dbname=herald_unit";
  }();
  return conninfo;
}

}  // namespace

std::string postgres_conninfo(const std::string& path) {
  const std::string schema = "t_" + std::to_string(std::hash<std::string>{}(path));
  const std::string db = database_conninfo();
  std::lock_guard lock(schemas_mu);
  if (!schemas) {
    schemas = new std::set<std::string>;
    std::atexit([] {
      for (const auto& s : *schemas) run_sql(database_conninfo(), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + s + " CASCADE", true);
    });
  }
  if (schemas->insert(schema).second) run_sql(db, "CREATE SCHEMA IF NOT EXISTS " + schema);
  return db + " options='-csearch_path=" + schema + "'";
}

std::unique_ptr<Store> open_store(const std::string& path, const std::string& instance, int64_t busy_timeout_ms) {
  if (!postgres_mode()) return open_sqlite_store(path, busy_timeout_ms);
  return open_postgres_store(postgres_conninfo(path), {instance, 15000});
}

}  // namespace herald::test
