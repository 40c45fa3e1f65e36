#pragma once
// What the store needs of a database connection, so that one implementation of the store
// (sql_store.cpp) runs on SQLite (one file, one heraldd) and on PostgreSQL (several heraldd
// sharing the work). Statements are written once, in the SQL both accept: numbered
// parameters `?1`, `INSERT ... ON CONFLICT DO NOTHING`, `RETURNING`.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace herald::sql {

enum class Dialect { sqlite, postgres };

/// A statement's text from its pieces (a shared SELECT, then its WHERE). Appended, not
/// joined with operator+ on literals, which gcc 12 warns about with _FORTIFY_SOURCE on
/// (-Warray-bounds, a false positive in libstdc++).
inline std::string text(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

/// One statement being run: bind, step through its rows, reset to run it again.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void bind(int i, std::string_view v) = 0;
  virtual void bind(int i, int64_t v) = 0;
  virtual void bind_null(int i) = 0;
  /// Runs the statement on the first call; true while a row is available.
  virtual bool step() = 0;
  /// Ready to bind and run again, bindings cleared.
  virtual void reset() = 0;
  virtual int64_t int64(int col) const = 0;  // booleans read as 0 and 1
  virtual bool is_null(int col) const = 0;
  virtual std::string text(int col) const = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  /// A cursor for `sql`, prepared once per connection where the backend allows.
  virtual std::unique_ptr<Cursor> cursor(std::string_view sql) = 0;
  /// Runs statements without parameters or rows (schema changes, BEGIN, ...).
  virtual void exec(const std::string& sql) = 0;
  /// Rows the last INSERT, UPDATE or DELETE changed.
  virtual int64_t changes() const = 0;
  /// True inside BEGIN ... COMMIT.
  virtual bool in_transaction() const = 0;
  /// True when the transaction under way can no longer commit (an error rolled it back,
  /// or, on PostgreSQL, aborted it).
  virtual bool transaction_failed() const = 0;
  /// What starts a transaction that writes.
  virtual const char* begin_sql() const = 0;
};

/// RAII over a cursor, with the chaining the store's code reads best with.
class Statement {
 public:
  Statement(Connection& c, std::string_view sql) : cur_(c.cursor(sql)) {}
  Statement& bind(int i, std::string_view v) {
    cur_->bind(i, v);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    cur_->bind(i, v);
    return *this;
  }
  Statement& bind_null(int i) {
    cur_->bind_null(i);
    return *this;
  }
  bool step() { return cur_->step(); }
  void run() {
    step();
    reset();
  }
  void reset() { cur_->reset(); }
  int64_t int64(int col) const { return cur_->int64(col); }
  bool is_null(int col) const { return cur_->is_null(col); }
  std::string text(int col) const { return cur_->text(col); }

 private:
  std::unique_ptr<Cursor> cur_;
};

}  // namespace herald::sql
