#pragma once
// The store's view of one PostgreSQL connection (libpq): statements written with `?N`
// parameters are rewritten to `$N` and prepared once per connection; errors become
// StoreError, `unavailable` when the server cannot take work at all (connection lost,
// shutting down, out of disk, a read-only standby).
#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/sql.hpp"
#include "store/store.hpp"

namespace herald::pg {

/// `?1` -> `$1` outside quoted strings and identifiers.
std::string rewrite_params(std::string_view sql);

class Connection final : public sql::Connection {
 public:
  /// Connects with a libpq conninfo string; throws StoreError.
  explicit Connection(const std::string& conninfo);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Dialect dialect() const override { return sql::Dialect::postgres; }
  std::unique_ptr<sql::Cursor> cursor(std::string_view sql) override;
  void exec(const std::string& sql) override;
  int64_t changes() const override { return changes_; }
  bool in_transaction() const override;
  bool transaction_failed() const override;
  const char* begin_sql() const override { return "BEGIN"; }

  /// Runs a prepared statement (preparing it first if this connection has not); the
  /// caller owns the result. Throws StoreError.
  PGresult* run(const std::string& sql, const std::vector<Oid>& types, const std::vector<const char*>& values);

 private:
  /// Outside a transaction, a lost connection is opened again before the next statement.
  void ensure_connected();
  [[noreturn]] void fail(PGresult* res, std::string_view what);

  std::string conninfo_;
  PGconn* conn_ = nullptr;
  int64_t changes_ = 0;
  bool reset_ = false;  // connect again before the next statement outside a transaction
  std::unordered_map<std::string, std::string> prepared_;  // sql + types -> statement name
};

}  // namespace herald::pg
