#pragma once
// A plain connection to a test's store (the SQLite file, or in postgres_mode() its
// PostgreSQL schema), for checks the Store API does not offer (triggers, schema versions)
// and for holding the write lock from outside.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "support.hpp"

namespace herald::test {

/// A raw connection to the store of `path` (see test::open_store).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (postgres_mode()) {
      pg_ = PQconnectdb(postgres_conninfo(path).c_str());
      if (PQstatus(pg_) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(pg_));
      return;
    }
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open " + path);
  }
  ~RawDb() {
    if (pg_) PQfinish(pg_);
    else sqlite3_close(db_);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  /// Runs `sql`; returns sqlite's result code (on PostgreSQL: SQLITE_OK, SQLITE_CONSTRAINT
  /// for a constraint or a trigger's refusal, else SQLITE_ERROR), with the message in `error`.
  int exec(const std::string& sql, std::string* error = nullptr) {
    if (pg_) {
      PGresult* r = PQexec(pg_, sql.c_str());
      const auto st = PQresultStatus(r);
      int rc = SQLITE_OK;
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const std::string s = state ? state : "";
        rc = s == "P0001" || s.rfind("23", 0) == 0 ? SQLITE_CONSTRAINT : SQLITE_ERROR;
      }
      if (error) {
        const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        *error = m ? m : "";
      }
      PQclear(r);
      return rc;
    }
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    if (error) *error = msg ? msg : "";
    sqlite3_free(msg);
    return rc;
  }
  int64_t scalar(const std::string& sql) {
    if (pg_) {
      const std::string v = pg_value(sql, "-1");
      return v == "t" ? 1 : v == "f" ? 0 : std::stoll(v);
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
  }
  std::string text(const std::string& sql) {
    if (pg_) return pg_value(sql, "");
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
    std::string v;
    if (sqlite3_step(st) == SQLITE_ROW)
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  }

 private:
  std::string pg_value(const std::string& sql, const std::string& none) {
    PGresult* r = PQexec(pg_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error(msg);
    }
    std::string v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : none;
    PQclear(r);
    return v;
  }
  sqlite3* db_ = nullptr;
  PGconn* pg_ = nullptr;
};

}  // namespace herald::test
