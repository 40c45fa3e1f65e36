#include <filesystem>
#include <map>
#include <mutex>

#include "core/time.hpp"
#include "store/migrations.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace herald {

namespace {

using sqlite::Statement;

/// SQLite in WAL mode: readers (the HTTP API) never block the writer (intake). One
/// connection guarded by a mutex; each call is short.
class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, int64_t busy_timeout_ms) {
    if (auto dir = std::filesystem::path(path).parent_path(); !dir.empty())
      std::filesystem::create_directories(dir);
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("cannot open store " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_ms));
    sqlite::exec(db_, "PRAGMA journal_mode=WAL");
    // FULL: a directive is acked to the broker right after its commit, so the commit
    // must survive a power loss too, not just a process crash.
    sqlite::exec(db_, "PRAGMA synchronous=FULL");
    sqlite::exec(db_, "PRAGMA foreign_keys=ON");
    migrate();
  }

  ~SqliteStore() override { sqlite3_close(db_); }

  IntakeOutcome commit_directive(const Directive& d, std::string_view raw,
                                 const std::vector<PlannedDelivery>& deliveries) override {
    std::lock_guard lock(mu_);
    IntakeOutcome out;
    Transaction tx(db_);
    {
      Statement existing(db_, "SELECT raw FROM directives WHERE id = ?1");
      existing.bind(1, d.id);
      if (existing.step()) {
        out.same_content = existing.text(0) == raw;
        return out;  // tx rolls back: nothing to write
      }
    }
    int64_t now = now_ms();
    Statement ins(db_,
                  "INSERT INTO directives(id, number, issuer_code, issuer_name, issued_at, subject,"
                  " urgency, confidentiality, ack_required, ack_deadline_ms, raw, received_at_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    ins.bind(1, d.id).bind(2, d.number).bind(3, d.issuer_code).bind(4, d.issuer_name);
    ins.bind(5, d.issued_at).bind(6, d.subject).bind(7, to_string(d.urgency));
    ins.bind(8, to_string(d.confidentiality)).bind(9, int64_t{d.ack_required});
    if (d.ack_deadline_ms) ins.bind(10, *d.ack_deadline_ms);
    else ins.bind_null(10);
    ins.bind(11, raw).bind(12, now);
    ins.run();

    Statement del(db_,
                  "INSERT INTO deliveries(directive_id, recipient_kind, recipient_id, recipient_name,"
                  " channel, address, state, urgency_rank, next_attempt_ms, error_code, error_text,"
                  " created_at_ms, updated_at_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)");
    Statement ev(db_,
                 "INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source,"
                 " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (const auto& p : deliveries) {
      del.bind(1, d.id).bind(2, p.recipient_kind).bind(3, p.recipient_id).bind(4, p.recipient_name);
      del.bind(5, to_string(p.channel)).bind(6, p.address).bind(7, to_string(p.state));
      del.bind(8, int64_t{rank(d.urgency)}).bind(9, now).bind(10, p.error_code);
      del.bind(11, p.error_text).bind(12, now);
      del.run();
      int64_t id = sqlite3_last_insert_rowid(db_);
      ev.bind(1, id).bind(2, d.id).bind(3, now).bind(4, "").bind(5, to_string(p.state));
      ev.bind(6, "intake").bind(7, p.error_code);
      ev.run();
    }
    ev.bind_null(1).bind(2, d.id).bind(3, now).bind(4, "").bind(5, "received");
    ev.bind(6, "intake").bind(7, std::to_string(deliveries.size()) + " deliveries");
    ev.run();
    tx.commit();
    out.created = true;
    out.deliveries = deliveries.size();
    return out;
  }

  std::vector<DirectiveSummary> list_directives(size_t limit, size_t offset) override {
    std::lock_guard lock(mu_);
    Statement q(db_, std::string(kSummarySelect) +
                         " ORDER BY d.received_at_ms DESC, d.id LIMIT ?1 OFFSET ?2");
    q.bind(1, static_cast<int64_t>(limit)).bind(2, static_cast<int64_t>(offset));
    std::vector<DirectiveSummary> out;
    while (q.step()) out.push_back(summary(q));
    return out;
  }

  std::optional<DirectiveDetail> directive(const std::string& id) override {
    std::lock_guard lock(mu_);
    Statement q(db_, std::string(kSummarySelect) + " WHERE d.id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    DirectiveDetail out{summary(q), {}};
    Statement c(db_,
                "SELECT channel, state, COUNT(*) FROM deliveries WHERE directive_id = ?1"
                " GROUP BY channel, state ORDER BY channel, state");
    c.bind(1, id);
    while (c.step()) out.counts.push_back(count_row(c));
    return out;
  }

  std::vector<DeliveryRow> deliveries(const std::string& directive_id) override {
    std::lock_guard lock(mu_);
    Statement q(db_,
                "SELECT id, directive_id, recipient_kind, recipient_id, recipient_name, channel,"
                " address, state, attempts, error_code, error_text, updated_at_ms"
                " FROM deliveries WHERE directive_id = ?1 ORDER BY recipient_id, channel");
    q.bind(1, directive_id);
    std::vector<DeliveryRow> out;
    while (q.step()) {
      DeliveryRow r;
      r.id = q.int64(0);
      r.directive_id = q.text(1);
      r.recipient_kind = q.text(2);
      r.recipient_id = q.text(3);
      r.recipient_name = q.text(4);
      r.channel = parse_channel(q.text(5)).value_or(Channel::sms);
      r.address = q.text(6);
      r.state = parse_state(q.text(7)).value_or(DeliveryState::queued);
      r.attempts = static_cast<int>(q.int64(8));
      r.error_code = q.text(9);
      r.error_text = q.text(10);
      r.updated_at_ms = q.int64(11);
      out.push_back(std::move(r));
    }
    return out;
  }

  std::vector<EventRow> events(const std::string& directive_id) override {
    std::lock_guard lock(mu_);
    Statement q(db_,
                "SELECT id, COALESCE(delivery_id, 0), directive_id, at_ms, from_state, to_state,"
                " source, detail FROM events WHERE directive_id = ?1 ORDER BY id");
    q.bind(1, directive_id);
    std::vector<EventRow> out;
    while (q.step())
      out.push_back({q.int64(0), q.int64(1), q.text(2), q.int64(3), q.text(4), q.text(5),
                     q.text(6), q.text(7)});
    return out;
  }

  std::vector<StateCount> delivery_counts() override {
    std::lock_guard lock(mu_);
    Statement c(db_, "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state");
    std::vector<StateCount> out;
    while (c.step()) out.push_back(count_row(c));
    return out;
  }

  int64_t directive_count() override {
    std::lock_guard lock(mu_);
    Statement c(db_, "SELECT COUNT(*) FROM directives");
    c.step();
    return c.int64(0);
  }

  bool ping() override {
    std::lock_guard lock(mu_);
    try {
      Statement c(db_, "SELECT 1");
      return c.step();
    } catch (const StoreError&) {
      return false;
    }
  }

 private:
  static constexpr const char* kSummarySelect =
      "SELECT d.id, d.number, d.issuer_code, d.issuer_name, d.subject, d.urgency,"
      " d.confidentiality, d.issued_at, d.received_at_ms,"
      " (SELECT COUNT(*) FROM deliveries x WHERE x.directive_id = d.id) FROM directives d";

  /// BEGIN IMMEDIATE takes the write lock up front, so a busy store fails at the start
  /// rather than half-way; rolls back unless committed.
  class Transaction {
   public:
    explicit Transaction(sqlite3* db) : db_(db) { sqlite::exec(db_, "BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      sqlite::exec(db_, "COMMIT");
      done_ = true;
    }

   private:
    sqlite3* db_;
    bool done_ = false;
  };

  static DirectiveSummary summary(const Statement& q) {
    DirectiveSummary s;
    s.id = q.text(0);
    s.number = q.text(1);
    s.issuer_code = q.text(2);
    s.issuer_name = q.text(3);
    s.subject = q.text(4);
    s.urgency = q.text(5);
    s.confidentiality = q.text(6);
    s.issued_at = q.text(7);
    s.received_at_ms = q.int64(8);
    s.deliveries = q.int64(9);
    return s;
  }

  static StateCount count_row(const Statement& c) {
    return {parse_channel(c.text(0)).value_or(Channel::sms),
            parse_state(c.text(1)).value_or(DeliveryState::queued), c.int64(2)};
  }

  void migrate() {
    Statement v(db_, "PRAGMA user_version");
    v.step();
    int64_t version = v.int64(0);
    v.reset();
    if (version > static_cast<int64_t>(migrations::kSqlite.size()))
      throw StoreError("store schema version " + std::to_string(version) +
                       " is newer than this heraldd knows (" +
                       std::to_string(migrations::kSqlite.size()) + "): refusing to open");
    for (size_t i = static_cast<size_t>(version); i < migrations::kSqlite.size(); ++i) {
      Transaction tx(db_);
      sqlite::exec(db_, migrations::kSqlite[i]);
      sqlite::exec(db_, ("PRAGMA user_version = " + std::to_string(i + 1)).c_str());
      tx.commit();
    }
  }

  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, int64_t busy_timeout_ms) {
  return std::make_unique<SqliteStore>(path, busy_timeout_ms);
}

}  // namespace herald
