#pragma once
// Thin RAII over the SQLite C API: one owner per handle, errors become StoreError.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/sql.hpp"
#include "store/store.hpp"

namespace herald::sqlite {

/// Prepared statements kept for the life of one connection, keyed by their SQL: the hot
/// paths (claims, transitions, receipts) run the same few statements thousands of times a
/// second, and preparing one costs more than running it.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache();
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  sqlite3* db() const { return db_; }

 private:
  friend class Statement;
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
};

class Statement {
 public:
  /// Prepares `sql` for this statement alone (finalized on destruction).
  Statement(sqlite3* db, std::string_view sql);
  /// Borrows the cache's prepared copy (reset and unbound on destruction); a statement
  /// already borrowed further up the stack gets a private copy instead.
  Statement(StatementCache& cache, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, int64_t v);
  Statement& bind_null(int i);
  /// True while a row is available.
  bool step();
  void run() { step(); reset(); }
  void reset();

  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const;
  sqlite3_stmt* handle() const { return stmt_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;  // set when borrowed from a cache
};

[[noreturn]] void fail(sqlite3* db, std::string_view what);
void exec(sqlite3* db, const char* sql);

/// The store's view of one SQLite connection (it owns the handle).
class Connection final : public sql::Connection {
 public:
  /// Opens `path` with `flags` (SQLITE_OPEN_*); throws StoreError.
  Connection(const std::string& path, int flags, int64_t busy_timeout_ms);
  ~Connection() override;
  sqlite3* db() const { return db_; }

  sql::Dialect dialect() const override { return sql::Dialect::sqlite; }
  std::unique_ptr<sql::Cursor> cursor(std::string_view sql) override;
  void exec(const std::string& sql) override { sqlite::exec(db_, sql.c_str()); }
  int64_t changes() const override { return sqlite3_changes(db_); }
  bool in_transaction() const override { return sqlite3_get_autocommit(db_) == 0; }
  // SQLite ends a transaction itself on some errors (I/O, full disk): then it is gone.
  bool transaction_failed() const override { return false; }
  // Takes the write lock up front, so a busy store fails at the start, not half-way.
  const char* begin_sql() const override { return "BEGIN IMMEDIATE"; }

 private:
  sqlite3* db_ = nullptr;
  std::unique_ptr<StatementCache> cache_;
};

}  // namespace herald::sqlite
