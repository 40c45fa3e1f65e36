// Opening a store: the file or the server, its migrations (store/migrations.hpp), and the
// connections each role runs on.
#include <cerrno>
#include <filesystem>
#include <mutex>

#include <signal.h>
#include <unistd.h>

#include "core/time.hpp"
#include "store/migrations.hpp"
#include "store/pg.hpp"
#include "store/sql_store.hpp"
#include "store/sqlite.hpp"

namespace herald {

using sql::Statement;

std::unique_ptr<Store> open_sqlite_store(const std::string& path, int64_t busy_timeout_ms) {
  // Heraldd does not read SQLite's memory statistics; keeping them takes a global mutex on
  // every allocation. Only possible before SQLite initialises (later it is refused, harmlessly).
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  if (auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
  auto db = std::make_unique<sqlite::Connection>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout_ms);
  db->exec("PRAGMA journal_mode=WAL");
  // FULL: a directive is acked to the broker right after its commit, so the commit must
  // survive a power loss too, not just a process crash.
  db->exec("PRAGMA synchronous=FULL");
  // Migrations run with foreign keys off (a table rebuild needs it), then are checked.
  db->exec("PRAGMA foreign_keys=OFF");
  {
    Statement v(*db, "PRAGMA user_version");
    v.step();
    const int64_t version = v.int64(0);
    v.reset();
    if (version > static_cast<int64_t>(migrations::kSqlite.size()))
      throw StoreError("store schema version " + std::to_string(version) + " is newer than this heraldd knows (" +
                       std::to_string(migrations::kSqlite.size()) + "): refusing to open");
    for (size_t i = static_cast<size_t>(version); i < migrations::kSqlite.size(); ++i) {
      db->exec("BEGIN IMMEDIATE");
      try {
        db->exec(migrations::kSqlite[i]);
        db->exec("PRAGMA user_version = " + std::to_string(i + 1));
        db->exec("COMMIT");
      } catch (...) {
        if (db->in_transaction()) db->exec("ROLLBACK");
        throw;
      }
    }
  }
  {
    Statement fk(*db, "PRAGMA foreign_key_check");
    if (fk.step()) throw StoreError("store fails its foreign key check after migration (table " + fk.text(0) + ")");
  }
  db->exec("PRAGMA foreign_keys=ON");
  // A second connection for the API's reads: in WAL mode it reads the last committed
  // state without waiting for a writer, so a million-delivery intake or a batch of
  // outcomes never stalls /readyz or the dashboard.
  auto rdb = std::make_unique<sqlite::Connection>(path, SQLITE_OPEN_READWRITE, busy_timeout_ms);
  rdb->exec("PRAGMA query_only=1");
  return std::make_unique<SqlStore>(std::move(db), std::move(rdb), nullptr, nullptr, SharedStoreOptions{});
}

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo, const SharedStoreOptions& options) {
  if (options.instance.empty()) throw StoreError("store.instance is empty: each instance needs a name of its own");
  auto db = std::make_unique<pg::Connection>(conninfo);
  // Instances starting together migrate one at a time (a session lock, released below or
  // when the connection closes).
  db->exec("SELECT pg_advisory_lock(7305010000)");
  auto unlock = [&] {
    try {
      db->exec("SELECT pg_advisory_unlock(7305010000)");
    } catch (const StoreError&) {
      // The lock went with the connection.
    }
  };
  try {
    db->exec("CREATE TABLE IF NOT EXISTS herald_schema (version BIGINT NOT NULL)");
    int64_t version = 0;
    {
      Statement v(*db, "SELECT MAX(version) FROM herald_schema");
      if (v.step() && !v.is_null(0)) version = v.int64(0);
    }
    if (version > static_cast<int64_t>(migrations::kPostgres.size()))
      throw StoreError("store schema version " + std::to_string(version) + " is newer than this heraldd knows (" +
                       std::to_string(migrations::kPostgres.size()) + "): refusing to open");
    for (size_t i = static_cast<size_t>(version); i < migrations::kPostgres.size(); ++i) {
      db->exec("BEGIN");
      try {
        db->exec(migrations::kPostgres[i]);
        db->exec("DELETE FROM herald_schema");
        db->exec("INSERT INTO herald_schema(version) VALUES (" + std::to_string(i + 1) + ")");
        db->exec("COMMIT");
      } catch (...) {
        try {
          db->exec("ROLLBACK");
        } catch (const StoreError&) {
        }
        throw;
      }
    }
    // Two live instances under one name would take each other's claims for their own.
    std::string sql = "SELECT host, pid, ";
    sql.append(SqlStore::kServerNowMs).append(" - heartbeat_ms, lease_ms FROM instances WHERE name = ?1");
    Statement q(*db, sql);
    q.bind(1, options.instance);
    if (q.step()) {
      const std::string host = q.text(0);
      const int64_t pid = q.int64(1), age = q.int64(2), lease = q.int64(3);
      // Ours: this process, or one on this host that is gone (this instance restarting).
      const bool gone = ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      const bool ours = host == SqlStore::host_name() && (pid == ::getpid() || gone);
      if (age < lease && !ours)
        throw StoreError("another heraldd (host " + host + ", pid " + std::to_string(pid) + ") uses the instance name '" +
                         options.instance + "' and renewed its lease " + std::to_string(age) +
                         " ms ago: give each instance its own store.instance");
    }
  } catch (...) {
    unlock();
    throw;
  }
  unlock();
  auto rdb = std::make_unique<pg::Connection>(conninfo);
  auto control = std::make_unique<pg::Connection>(conninfo);
  auto intake = std::make_unique<pg::Connection>(conninfo);
  auto store = std::make_unique<SqlStore>(std::move(db), std::move(rdb), std::move(control), std::move(intake), options);
  store->renew_lease(now_ms());
  return store;
}

}  // namespace herald
