#pragma once
// The store over one SQL backend (store/sql.hpp): SQLite, with WAL so that readers (the
// HTTP API) never block the writer (intake); or PostgreSQL, which several heraldd share,
// where claims skip rows another instance holds and carry this instance's name and lease.
// Each connection is guarded by a mutex; each call is short. The statements are written
// once for both backends. One class implements every role of store.hpp; its methods are
// defined by role, a file each: sql_intake.cpp, sql_dispatch.cpp, sql_receipts.cpp,
// sql_acks.cpp, sql_queries.cpp, sql_shared.cpp (leases, shared rates), and here the
// transitions every role makes (sql_store.cpp). Internal to store/.
#include <memory>
#include <mutex>

#include "store/sql.hpp"
#include "store/store.hpp"

namespace herald {

class SqlStore final : public Store {
 public:
  /// `db` takes the writes, `rdb` the API's reads; `control` (PostgreSQL) the lease and
  /// the shared rate limits, which must not wait behind a batch; `intake` (PostgreSQL)
  /// intake's commits, so that a large directive never holds up the writer.
  SqlStore(std::unique_ptr<sql::Connection> db, std::unique_ptr<sql::Connection> rdb,
           std::unique_ptr<sql::Connection> control, std::unique_ptr<sql::Connection> intake,
           SharedStoreOptions options)
      : db_(std::move(db)), rdb_(std::move(rdb)), cdb_(std::move(control)), idb_(std::move(intake)),
        pg_(db_->dialect() == sql::Dialect::postgres), options_(std::move(options)) {}

  void batch(const std::function<void()>& fn) override;
  void atomically(const std::function<void()>& fn) override;

  // ---- intake (sql_intake.cpp) ------------------------------------------------------------
  using IntakeStore::commit_directive;
  IntakeOutcome commit_directive(const Directive& d, std::string_view raw, const DeliverySource& deliveries,
                                 const std::function<void()>& part_committed) override;
  std::optional<TakenIn> taken_in(const std::string& id) override;
  std::vector<std::string> unfinished_intakes() override;

  // ---- dispatch (sql_dispatch.cpp) --------------------------------------------------------
  std::vector<ClaimedDelivery> claim_due(Channel channel, const std::string& gateway, int64_t now,
                                         size_t limit) override;
  std::optional<int64_t> next_due_ms(Channel channel) override;
  TransitionResult transition(int64_t id, const TransitionRequest& t) override;
  std::optional<StoredDirective> directive_to_send(const std::string& id) override;
  size_t recover_in_flight(int64_t now, int64_t grace_ms) override;
  size_t release_unsent(const std::vector<int64_t>& ids, int64_t now) override;
  size_t expire_unconfirmed(int64_t now) override;
  std::map<std::string, std::string> gateway_state(const std::string& gateway) override;
  void put_gateway_state(const std::string& gateway, const std::map<std::string, std::string>& values) override;
  std::string keep_first_gateway_state(const std::string& gateway, const std::string& key,
                                       const std::string& value) override;
  size_t seal_gateway_state(std::shared_ptr<const SecretSeal> seal) override;

  // ---- receipts (sql_receipts.cpp) --------------------------------------------------------
  std::optional<DeliveryRow> delivery_by_token(const std::string& token) override;
  std::optional<DeliveryRow> delivery_by_provider_ref(const std::string& gateway, const std::string& ref) override;
  std::optional<TransitionResult> apply_receipt(int64_t id, const TransitionRequest& t,
                                                const std::string& once) override;

  // ---- acknowledgements (sql_acks.cpp) ----------------------------------------------------
  std::vector<OpenAck> open_acks(const std::string& recipient_id, int64_t now) override;
  bool first_reply(const std::string& key, int64_t now) override;
  AckOutcome acknowledge(const std::string& directive_id, const std::string& recipient_id, Channel channel,
                         const std::string& text, const std::string& source, int64_t now) override;
  void record_reply(const ReplyRecord& r, int64_t now) override;
  std::vector<AckWatch> ack_watches(int64_t now) override;
  std::vector<MissingAck> missing_acks(const std::string& directive_id) override;
  bool add_followup(const std::string& directive_id, const std::string& kind,
                    const std::vector<PlannedDelivery>& deliveries, int64_t now) override;

  // ---- operators (sql_queries.cpp) --------------------------------------------------------
  std::vector<DirectiveSummary> list_directives(size_t limit, size_t offset,
                                                const std::optional<DirectiveCursor>& before = {}) override;
  std::vector<DirectiveSummary> public_directives(int64_t since_ms, size_t limit) override;
  PublicStamp public_stamp(int64_t since_ms) override;
  std::optional<DirectiveDetail> directive(const std::string& id) override;
  std::optional<DirectiveSummary> directive_summary(const std::string& id) override;
  std::optional<std::string> directive_raw(const std::string& id) override;
  std::vector<DeliveryRow> deliveries(const std::string& directive_id, const DeliveryQuery& q = {}) override;
  std::optional<DeliveryRow> delivery(int64_t id) override;
  std::vector<EventRow> events(const std::string& directive_id, const EventQuery& q = {}) override;
  std::vector<AckRow> ack_status(const std::string& directive_id, const AckQuery& q = {}) override;
  AckTotals ack_totals(const std::string& directive_id) override;
  std::vector<ReplyRow> replies(size_t limit, int64_t before_id = 0) override;
  std::vector<StateCount> delivery_counts() override;
  int64_t directive_count() override;
  bool ping() override;

  // ---- operators' actions (sql_operations.cpp) --------------------------------------------
  CancelOutcome cancel_directive(const std::string& id, const std::string& by, const std::string& reason,
                                 int64_t now) override;
  CancelBatch cancel_waiting(const std::string& id, int64_t after, size_t limit, int64_t now) override;
  std::vector<std::string> unfinished_cancels() override;
  std::optional<ReplayJob> start_replay(const std::string& directive_id, const ReplayFilter& filter,
                                        const std::string& by, const std::string& reason, int64_t now,
                                        bool* cancelled = nullptr) override;
  std::vector<ReplayItem> replay_batch(ReplayJob& job, const AddressOf& address_of, size_t limit,
                                       int64_t now) override;
  std::vector<ReplayJob> unfinished_replays() override;
  std::vector<ReplayItem> replay_preview(const std::string& directive_id, const ReplayFilter& filter,
                                         const AddressOf& address_of, size_t limit, size_t* total) override;
  void record_event(const std::string& directive_id, const std::string& to_state, const std::string& source,
                    const std::string& detail, int64_t now) override;

  // ---- several instances (sql_shared.cpp) -------------------------------------------------
  bool shared() const override { return pg_; }
  void renew_lease(int64_t now) override;
  size_t take_over(int64_t now, int64_t grace_ms) override;
  int64_t take_rate_tokens(const std::string& gateway, int64_t want, double rate, double burst) override;

  /// This machine's name, as the instances table records it.
  static std::string host_name();
  /// Milliseconds since the epoch on the PostgreSQL server's clock (leases, rate buckets).
  static constexpr const char* kServerNowMs = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

 private:
  using Statement = sql::Statement;

  /// Begins a transaction (SQLite: BEGIN IMMEDIATE, which takes the write lock up front,
  /// so a busy store fails at the start rather than half-way); rolls back unless
  /// committed. Inside a batch() it is a savepoint: its own failure undoes only its own
  /// writes, and the batch commits the rest together.
  class Transaction {
   public:
    explicit Transaction(sql::Connection& c) : c_(c), nested_(c.in_transaction()) {
      run(nested_ ? "SAVEPOINT herald_tx" : c_.begin_sql());
    }
    ~Transaction();
    void commit();

   private:
    void run(const char* sql) { Statement(c_, sql).run(); }
    sql::Connection& c_;
    bool nested_;
    bool done_ = false;
  };

  // Every role's transitions (sql_store.cpp).
  /// Applies one transition inside the caller's transaction (mu_ held).
  TransitionResult transition_locked(int64_t id, const TransitionRequest& t, int64_t now);
  /// Queues the next channel of `id`'s fallback chain, once; 0 when there is none.
  int64_t spawn_fallback(int64_t id, int64_t now, const std::string& reason);
  /// A store call inside a batch whose transaction the backend already ended (an I/O
  /// error, a full disk, a lost connection) must not run on its own in autocommit mode.
  void check_batch() const;
  static DeliveryRow delivery_row(const Statement& q);
  static DirectiveSummary summary(const Statement& q);
  static StateCount count_row(const Statement& c);

  // Intake's parts (sql_intake.cpp).
  /// The directive's row (not yet complete) and its ack code.
  void insert_directive(sql::Connection& db, const Directive& d, std::string_view raw, int64_t now);
  // Dispatch's claim on a shared store (sql_dispatch.cpp).
  std::vector<ClaimedDelivery> claim_due_shared(Channel channel, const std::string& gateway, int64_t now,
                                                size_t limit);

  // How long a directive stays open for acknowledgement (and its code reserved).
  static constexpr int64_t kAckOpenMs = 30LL * 86'400'000;
  // A provider resends an unanswered event for a while (Zalo: 12 hours); a week of keys
  // is plenty. A repeat after that is harmless anyway: states only move forward.
  static constexpr int64_t kReceiptKeyKeepMs = 7LL * 24 * 3600 * 1000;
  // Deliveries per intake transaction: a small first part so that sending starts at once,
  // then parts that keep each transaction (and the store writer's wait) under ~0.1 s.
  static constexpr size_t kFirstPart = 1000;
  static constexpr size_t kPart = 10000;
  static constexpr const char* kEventInsert =
      "INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
  static constexpr const char* kDeliverySelect =
      "SELECT id, directive_id, recipient_kind, recipient_id, recipient_name, channel, address,"
      " state, attempts, error_code, error_text, gateway, provider_ref, next_attempt_ms,"
      " updated_at_ms FROM deliveries";
  static constexpr const char* kSummarySelect =
      "SELECT d.id, d.number, d.issuer_code, d.issuer_name, d.subject, d.urgency,"
      " d.confidentiality, d.issued_at, d.received_at_ms,"
      " (SELECT COUNT(*) FROM deliveries x WHERE x.directive_id = d.id),"
      " d.zones, d.cancelled_at_ms, d.cancelled_by, d.cancel_reason, d.ack_code, d.intake_complete FROM directives d";

  std::unique_ptr<sql::Connection> db_;
  // Recursive: batch() holds it while the calls it makes take it again.
  std::recursive_mutex mu_;
  bool in_batch_ = false;
  // The read connection (API reads), with its own lock.
  std::unique_ptr<sql::Connection> rdb_;
  std::mutex rmu_;
  // PostgreSQL: the lease and shared rate limits, with their own lock.
  std::unique_ptr<sql::Connection> cdb_;
  std::mutex cmu_;
  // PostgreSQL: intake's own connection and lock (SQLite has one writer: db_ and mu_).
  std::unique_ptr<sql::Connection> idb_;
  std::recursive_mutex imu_;
  sql::Connection& intake_db() { return idb_ ? *idb_ : *db_; }
  const bool pg_;
  const SharedStoreOptions options_;
  // Gateway state at rest (seal_gateway_state): set once at start, read-only after.
  std::shared_ptr<const SecretSeal> seal_;
  std::string sealed(const std::string& gateway, const std::string& key, const std::string& value) const;
  std::string opened(const std::string& gateway, const std::string& key, const std::string& value) const;
};

}  // namespace herald
