#include "store/sqlite.hpp"

#include "text/vietnamese.hpp"

namespace herald::sqlite {

namespace {

// The result codes that say the database cannot be written now, whatever the statement.
bool unavailable(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
      return true;
    default:
      return false;
  }
}

}  // namespace

void fail(sqlite3* db, std::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  throw StoreError(std::string(what) + ": " + sqlite3_errmsg(db) + " (sqlite " + std::to_string(code) + ")",
                   unavailable(code));
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError(std::string("sqlite: ") + msg + " (sqlite " + std::to_string(sqlite3_extended_errcode(db)) + ")",
                     unavailable(rc));
  }
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
    fail(db, "prepare");
}

StatementCache::~StatementCache() {
  for (auto& [sql, e] : entries_) sqlite3_finalize(e.stmt);
}

Statement::Statement(StatementCache& cache, std::string_view sql) : db_(cache.db_) {
  constexpr size_t kMaxCached = 512;  // the store's SQL is a fixed set; this only bounds mistakes
  auto it = cache.entries_.find(sql);
  if (it == cache.entries_.end() && cache.entries_.size() < kMaxCached) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                           nullptr) != SQLITE_OK)
      fail(db_, "prepare");
    it = cache.entries_.emplace(std::string(sql), StatementCache::Entry{stmt, false}).first;
  }
  if (it != cache.entries_.end() && !it->second.in_use) {
    stmt_ = it->second.stmt;
    in_use_ = &it->second.in_use;
    *in_use_ = true;
    return;
  }
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
    fail(db_, "prepare");
}

Statement::~Statement() {
  if (in_use_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

Statement& Statement::bind(int i, std::string_view v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

Statement& Statement::bind_null(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(db_, "step");
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int col) const {
  auto p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

namespace {

class SqliteCursor final : public sql::Cursor {
 public:
  SqliteCursor(StatementCache& cache, std::string_view sql) : st_(cache, sql) {}
  // Text from outside (a reply, a provider's error) may be cut inside a character or not
  // be UTF-8 at all: the store keeps well-formed UTF-8 only, as on PostgreSQL (pg.cpp),
  // so the API and heraldctl never meet bytes JSON cannot carry.
  void bind(int i, std::string_view v) override {
    if (valid_utf8(v) && v.find('\0') == std::string_view::npos) st_.bind(i, v);
    else st_.bind(i, utf8_clean(v));
  }
  void bind(int i, int64_t v) override { st_.bind(i, v); }
  void bind_null(int i) override { st_.bind_null(i); }
  bool step() override { return st_.step(); }
  void reset() override { st_.reset(); }
  int64_t int64(int col) const override { return st_.int64(col); }
  bool is_null(int col) const override { return st_.is_null(col); }
  std::string text(int col) const override { return st_.text(col); }

 private:
  Statement st_;
};

}  // namespace

Connection::Connection(const std::string& path, int flags, int64_t busy_timeout_ms) {
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw StoreError("cannot open store " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_ms));
  cache_ = std::make_unique<StatementCache>(db_);
}

Connection::~Connection() {
  cache_.reset();  // statements before their connection
  sqlite3_close(db_);
}

std::unique_ptr<sql::Cursor> Connection::cursor(std::string_view sql) {
  return std::make_unique<SqliteCursor>(*cache_, sql);
}

}  // namespace herald::sqlite
