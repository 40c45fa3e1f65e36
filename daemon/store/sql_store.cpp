#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include <cerrno>
#include <signal.h>
#include <unistd.h>

#include "core/compare.hpp"
#include "core/random.hpp"
#include "core/time.hpp"
#include "directive/ack_code.hpp"
#include "store/migrations.hpp"
#include "store/pg.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"
#include "text/vietnamese.hpp"

namespace herald {

namespace {

using sql::Statement;

// Milliseconds since the epoch on the PostgreSQL server's clock (leases, rate buckets).
constexpr const char* kServerNowMs = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// How long a directive stays open for acknowledgement (and its code reserved).
constexpr int64_t kAckOpenMs = 30LL * 86'400'000;

/// The store over one SQL backend. SQLite: WAL mode, so that readers (the HTTP API) never
/// block the writer (intake). PostgreSQL: several heraldd share it; claims skip rows
/// another instance holds, and each instance's claims carry its name and lease. Each
/// connection is guarded by a mutex; each call is short.
class SqlStore final : public Store {
 public:
  /// `db` takes the writes, `rdb` the API's reads; `control` (PostgreSQL) the lease and
  /// the shared rate limits, which must not wait behind a batch.
  SqlStore(std::unique_ptr<sql::Connection> db, std::unique_ptr<sql::Connection> rdb,
           std::unique_ptr<sql::Connection> control, std::unique_ptr<sql::Connection> intake,
           SharedStoreOptions options)
      : db_(std::move(db)), rdb_(std::move(rdb)), cdb_(std::move(control)), idb_(std::move(intake)),
        pg_(db_->dialect() == sql::Dialect::postgres), options_(std::move(options)) {}

  void batch(const std::function<void()>& fn) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    in_batch_ = true;
    try {
      fn();
    } catch (...) {
      in_batch_ = false;
      throw;
    }
    in_batch_ = false;
    tx.commit();
  }

  void atomically(const std::function<void()>& fn) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    fn();
    tx.commit();
  }

  using Store::commit_directive;
  IntakeOutcome commit_directive(const Directive& d, std::string_view raw, const DeliverySource& deliveries,
                                 const std::function<void()>& part_committed) override {
    IntakeOutcome out;
    int64_t now = now_ms();
    bool resuming = false;
    size_t count = 0, added = 0, in_part = 0;
    size_t part_size = kFirstPart;
    bool cancelled = false;
    // Declared in this order so that, if planning throws, the statements are reset, then
    // the part rolled back, then the lock released.
    // PostgreSQL: intake has a connection of its own, so that a large directive being taken
    // in never holds up the writer (claims, outcomes, receipts) or the loop.
    sql::Connection& db = intake_db();
    std::unique_lock<std::recursive_mutex> lock(idb_ ? imu_ : mu_, std::defer_lock);
    std::optional<Transaction> tx;
    std::optional<Statement> del, ev;  // per part: the writer's thread uses the same cached ones
    auto begin = [&] {
      lock.lock();
      if (!idb_) check_batch();
      tx.emplace(db);
      if (pg_) {
        // Two instances may take in the same directive at once (the broker delivered it
        // again after one died, or it was published twice): one at a time per id.
        Statement l(db, "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))");
        l.bind(1, d.id);
        l.run();
      }
      {
        Statement c(db, "SELECT cancelled_at_ms IS NOT NULL FROM directives WHERE id = ?1");
        c.bind(1, d.id);
        cancelled = c.step() && c.int64(0) != 0;  // cancelled meanwhile: plan nothing more
      }
      del.emplace(db,
                  "INSERT INTO deliveries(directive_id, recipient_kind, recipient_id, recipient_name,"
                  " channel, address, state, urgency_rank, next_attempt_ms, error_code, error_text,"
                  " token, fallback, fallback_after_ms, created_at_ms, updated_at_ms, purpose, note)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14, ?15, ?12, ?12, ?16, ?17)"
                  " ON CONFLICT DO NOTHING RETURNING id");
      ev.emplace(db, kEventInsert);
    };
    auto end_part = [&] {
      del.reset();
      ev.reset();
      tx->commit();
      tx.reset();
      lock.unlock();
      in_part = 0;
      part_size = kPart;
      if (part_committed) part_committed();
    };
    // 1. The directive itself, marked as being taken in, committed with the first part of
    // its deliveries: a directive of up to kFirstPart deliveries (a district's) is one
    // transaction, as before; a larger one shows while the rest is added.
    begin();
    {
      Statement existing(db, "SELECT raw, intake_complete, received_at_ms FROM directives WHERE id = ?1");
      existing.bind(1, d.id);
      if (existing.step()) {
        out.same_content = existing.text(0) == raw;
        // Complete: a repeat, nothing to add. Partly taken in (heraldd stopped half-way
        // and the broker delivered the message again): plan again and add what is
        // missing. Another body under that id while the first is unfinished adds nothing;
        // the first body comes back from the broker and finishes.
        if (existing.int64(1) != 0 || !out.same_content) return out;  // rolls back: nothing written
        resuming = true;
        now = existing.int64(2);
      } else {
        insert_directive(db, d, raw, now);
      }
    }
    // 2. The deliveries, in parts of their own transactions so that sending starts while
    // a large directive is still being planned (and the store writer is not held up).
    deliveries([&](const PlannedDelivery& p) {
      ++count;
      if (cancelled) return;
      if (!tx) begin();
      if (cancelled) return;
      del->bind(1, d.id).bind(2, p.recipient_kind).bind(3, p.recipient_id).bind(4, p.recipient_name);
      del->bind(5, to_string(p.channel)).bind(6, p.address).bind(7, to_string(p.state));
      del->bind(8, int64_t{rank(d.urgency)}).bind(9, now).bind(10, p.error_code);
      del->bind(11, p.error_text).bind(12, now).bind(13, random_token());
      del->bind(14, p.fallback).bind(15, p.fallback_after_ms).bind(16, to_string(p.purpose)).bind(17, p.note);
      const bool inserted = del->step();
      const int64_t id = inserted ? del->int64(0) : 0;
      del->reset();
      if (!inserted) return;  // resuming: it was added before the stop
      ++added;
      ev->bind(1, id).bind(2, d.id).bind(3, now).bind(4, "").bind(5, to_string(p.state));
      ev->bind(6, "intake").bind(7, p.error_code);
      ev->run();
      if (++in_part >= part_size) end_part();
    });
    // 3. Complete: from here a repeat of the message adds nothing.
    if (!tx) begin();
    ev->bind_null(1).bind(2, d.id).bind(3, now).bind(4, "").bind(5, "received");
    ev->bind(6, "intake").bind(7, std::to_string(count) + " deliveries" +
                                     (resuming ? " (resumed: " + std::to_string(added) + " added now)" : "") +
                                     (cancelled ? " (cancelled while being taken in)" : ""));
    ev->run();
    del.reset();
    ev.reset();
    Statement done(db, "UPDATE directives SET intake_complete = 1 WHERE id = ?1");
    done.bind(1, d.id);
    done.run();
    tx->commit();
    out.created = true;
    out.resumed = resuming;
    out.deliveries = count;
    return out;
  }

  std::vector<DirectiveSummary> list_directives(size_t limit, size_t offset) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_, std::string(kSummarySelect) +
                         " ORDER BY d.received_at_ms DESC, d.id LIMIT ?1 OFFSET ?2");
    q.bind(1, static_cast<int64_t>(limit)).bind(2, static_cast<int64_t>(offset));
    std::vector<DirectiveSummary> out;
    while (q.step()) out.push_back(summary(q));
    return out;
  }

  std::vector<DirectiveSummary> public_directives(int64_t since_ms, size_t limit) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_, std::string(kSummarySelect) +
                         " WHERE d.zones <> '' AND d.received_at_ms >= ?1"
                         " ORDER BY d.received_at_ms DESC, d.id LIMIT ?2");
    q.bind(1, since_ms).bind(2, static_cast<int64_t>(limit));
    std::vector<DirectiveSummary> out;
    while (q.step()) out.push_back(summary(q));
    return out;
  }

  CancelOutcome cancel_directive(const std::string& id, const std::string& by, const std::string& reason,
                                 int64_t now) override {
    std::lock_guard lock(mu_);
    CancelOutcome out;
    check_batch();
    Transaction tx(*db_);
    {
      Statement q(*db_, pg_ ? "SELECT cancelled_at_ms FROM directives WHERE id = ?1 FOR UPDATE"
                            : "SELECT cancelled_at_ms FROM directives WHERE id = ?1");
      q.bind(1, id);
      if (!q.step()) return out;
      out.found = true;
      if (!q.is_null(0)) {
        out.already = true;
        out.cancelled_at_ms = q.int64(0);
        return out;
      }
    }
    out.cancelled_at_ms = now;
    Statement up(*db_, "UPDATE directives SET cancelled_at_ms = ?2, cancelled_by = ?3, cancel_reason = ?4 WHERE id = ?1");
    up.bind(1, id).bind(2, now).bind(3, by).bind(4, reason);
    up.run();
    // Only what has not left can be held back; sends in flight finish as they will.
    std::vector<int64_t> waiting;
    {
      Statement q(*db_, "SELECT id, state FROM deliveries WHERE directive_id = ?1");
      q.bind(1, id);
      while (q.step()) {
        auto st = parse_state(q.text(1)).value_or(DeliveryState::queued);
        if (transition_allowed(st, DeliveryState::cancelled, Cause::operator_cancel)) waiting.push_back(q.int64(0));
        else if (!is_final(st)) ++out.in_flight;
      }
    }
    TransitionRequest t{DeliveryState::cancelled, Cause::operator_cancel, "operator:" + by,
                        reason.empty() ? "directive cancelled" : "directive cancelled: " + reason,
                        std::string("cancelled"), "the directive was cancelled", {}, {}};
    for (int64_t d : waiting)
      if (transition_locked(d, t, now).applied) ++out.cancelled;
    Statement ev(*db_, kEventInsert);
    ev.bind_null(1).bind(2, id).bind(3, now).bind(4, "").bind(5, "cancelled").bind(6, "operator:" + by);
    ev.bind(7, std::to_string(out.cancelled) + " deliveries cancelled" +
                   (reason.empty() ? std::string() : "; reason: " + reason));
    ev.run();
    tx.commit();
    return out;
  }

  void record_event(const std::string& directive_id, const std::string& to_state, const std::string& source,
                    const std::string& detail, int64_t now) override {
    std::lock_guard lock(mu_);
    check_batch();
    Statement ev(*db_, kEventInsert);
    ev.bind_null(1).bind(2, directive_id).bind(3, now).bind(4, "").bind(5, to_state).bind(6, source).bind(7, detail);
    ev.run();
  }

  std::vector<ReplayItem> replay(const std::string& directive_id, const ReplayFilter& filter,
                                 const std::function<std::string(const std::string&, Channel)>& address_of,
                                 bool dry_run, const std::string& by, const std::string& reason, int64_t now,
                                 bool* cancelled) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    {
      Statement q(*db_, "SELECT cancelled_at_ms FROM directives WHERE id = ?1");
      q.bind(1, directive_id);
      if (q.step() && !q.is_null(0)) {
        if (cancelled) *cancelled = true;
        return {};
      }
    }
    std::vector<ReplayItem> out;
    {
      Statement q(*db_,
                  "SELECT id, recipient_id, recipient_name, channel, state, address FROM deliveries"
                  " WHERE directive_id = ?1 AND purpose = 'directive' AND state IN ('failed', 'expired')"
                  " ORDER BY recipient_id, id");
      q.bind(1, directive_id);
      while (q.step()) {
        ReplayItem it;
        it.delivery_id = q.int64(0);
        it.recipient_id = q.text(1);
        it.recipient_name = q.text(2);
        it.channel = parse_channel(q.text(3)).value_or(Channel::sms);
        it.state = parse_state(q.text(4)).value_or(DeliveryState::failed);
        it.old_address = q.text(5);
        if (std::find(filter.states.begin(), filter.states.end(), it.state) == filter.states.end()) continue;
        if (filter.channel && *filter.channel != it.channel) continue;
        if (!filter.recipient_id.empty() && filter.recipient_id != it.recipient_id) continue;
        it.address = address_of(it.recipient_id, it.channel);
        if (it.address.empty()) it.skipped = "no contact on this channel in the directory";
        out.push_back(std::move(it));
      }
    }
    if (dry_run) return out;  // the transaction rolls back: nothing written
    Statement up(*db_,
                 "UPDATE deliveries SET state = 'queued', address = ?2, attempts = 0, next_attempt_ms = ?3,"
                 " token = ?4, gateway = '', provider_ref = '', error_code = '', error_text = '',"
                 " sent_at_ms = NULL, updated_at_ms = ?3 WHERE id = ?1 AND state IN ('failed', 'expired')");
    Statement ev(*db_, kEventInsert);
    for (const auto& it : out) {
      if (!it.skipped.empty()) continue;
      up.bind(1, it.delivery_id).bind(2, it.address).bind(3, now).bind(4, random_token());
      up.run();
      std::string detail = "replay" + (reason.empty() ? std::string() : ": " + reason);
      if (it.address != it.old_address) detail += "; address " + it.old_address + " -> " + it.address;
      ev.bind(1, it.delivery_id).bind(2, directive_id).bind(3, now).bind(4, to_string(it.state));
      ev.bind(5, "queued").bind(6, "operator:" + by).bind(7, detail);
      ev.run();
    }
    tx.commit();
    return out;
  }

  std::vector<OpenAck> open_acks(const std::string& recipient_id, int64_t now) override {
    std::lock_guard lock(mu_);
    Statement q(*db_,
                "SELECT d.id, d.ack_code FROM directives d"
                " WHERE d.ack_code <> '' AND d.cancelled_at_ms IS NULL AND d.received_at_ms >= ?2"
                " AND EXISTS (SELECT 1 FROM deliveries x WHERE x.directive_id = d.id AND x.recipient_id = ?1"
                "             AND x.purpose = 'directive' AND x.recipient_kind = 'person')"
                " AND NOT EXISTS (SELECT 1 FROM acks a WHERE a.directive_id = d.id AND a.recipient_id = ?1)"
                " ORDER BY d.received_at_ms DESC, d.id");
    q.bind(1, recipient_id).bind(2, now - kAckOpenMs);
    std::vector<OpenAck> out;
    while (q.step()) out.push_back({q.text(0), q.text(1)});
    return out;
  }

  AckOutcome acknowledge(const std::string& directive_id, const std::string& recipient_id, Channel channel,
                         const std::string& text, const std::string& source, int64_t now) override {
    std::lock_guard lock(mu_);
    AckOutcome out;
    check_batch();
    Transaction tx(*db_);
    std::vector<std::pair<int64_t, DeliveryState>> theirs;
    {
      Statement q(*db_,
                  "SELECT id, state, purpose FROM deliveries WHERE directive_id = ?1 AND recipient_id = ?2"
                  " AND purpose IN ('directive', 'reminder')");
      q.bind(1, directive_id).bind(2, recipient_id);
      while (q.step()) theirs.emplace_back(q.int64(0), parse_state(q.text(1)).value_or(DeliveryState::queued));
    }
    if (theirs.empty()) return out;
    out.found = true;
    {
      Statement ins(*db_,
                    "INSERT INTO acks(directive_id, recipient_id, channel, at_ms, text, source)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING");
      ins.bind(1, directive_id).bind(2, recipient_id).bind(3, to_string(channel)).bind(4, now);
      ins.bind(5, utf8_prefix(text, 1000)).bind(6, source);
      ins.run();
      if (db_->changes() == 0) {
        out.already = true;
        return out;
      }
    }
    const std::string detail = "acknowledged by " + source;
    for (const auto& [id, st] : theirs) {
      // What failed or never left stays as it was; what reached them is acknowledged.
      if (st != DeliveryState::queued && st != DeliveryState::retrying && st != DeliveryState::sent &&
          st != DeliveryState::delivered && st != DeliveryState::read)
        continue;
      TransitionRequest t;
      t.source = source;
      if (st == DeliveryState::queued || st == DeliveryState::retrying) {
        // A reminder or the next channel of a fallback chain: no longer needed.
        t.to = DeliveryState::cancelled;
        t.cause = Cause::operator_cancel;
        t.detail = "not needed: " + detail;
      } else {
        t.to = DeliveryState::acknowledged;
        t.cause = Cause::receipt;
        t.detail = detail;
      }
      TransitionResult r = transition_locked(id, t, now);
      if (r.applied) ++(t.to == DeliveryState::cancelled ? out.held_back : out.acknowledged);
      Statement settle(*db_, "UPDATE deliveries SET fallback = '' WHERE id = ?1");
      settle.bind(1, id);
      settle.run();
    }
    tx.commit();
    return out;
  }

  void record_reply(const ReplyRecord& r, int64_t now) override {
    std::lock_guard lock(mu_);
    check_batch();
    Statement ins(*db_,
                  "INSERT INTO replies(at_ms, channel, sender, text, outcome, directive_id, recipient_id, detail)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    ins.bind(1, now).bind(2, to_string(r.channel)).bind(3, utf8_prefix(r.sender, 100)).bind(4, utf8_prefix(r.text, 1000));
    ins.bind(5, r.outcome);
    if (r.directive_id.empty()) ins.bind_null(6);
    else ins.bind(6, r.directive_id);
    if (r.recipient_id.empty()) ins.bind_null(7);
    else ins.bind(7, r.recipient_id);
    ins.bind(8, r.detail);
    ins.run();
  }

  std::vector<ReplyRow> replies(size_t limit) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_,
                "SELECT id, at_ms, channel, sender, text, outcome, COALESCE(directive_id, ''),"
                " COALESCE(recipient_id, ''), detail FROM replies ORDER BY id DESC LIMIT ?1");
    q.bind(1, static_cast<int64_t>(limit));
    std::vector<ReplyRow> out;
    while (q.step()) {
      ReplyRow r;
      r.id = q.int64(0);
      r.at_ms = q.int64(1);
      r.channel = parse_channel(q.text(2)).value_or(Channel::sms);
      r.sender = q.text(3);
      r.text = q.text(4);
      r.outcome = q.text(5);
      r.directive_id = q.text(6);
      r.recipient_id = q.text(7);
      r.detail = q.text(8);
      out.push_back(std::move(r));
    }
    return out;
  }

  std::vector<AckRow> ack_status(const std::string& directive_id) override {
    std::lock_guard lock(rmu_);
    std::vector<AckRow> out;
    std::map<std::string, size_t> index;
    Statement q(*rdb_,
                "SELECT x.recipient_id, x.recipient_name, x.channel, x.state, a.channel, a.at_ms, a.text, a.source"
                " FROM deliveries x LEFT JOIN acks a ON a.directive_id = x.directive_id AND a.recipient_id = x.recipient_id"
                " WHERE x.directive_id = ?1 AND x.purpose = 'directive' AND x.recipient_kind = 'person'"
                " ORDER BY x.recipient_id, x.id");
    q.bind(1, directive_id);
    while (q.step()) {
      auto [it, fresh] = index.emplace(q.text(0), out.size());
      if (fresh) {
        AckRow r;
        r.recipient_id = q.text(0);
        r.recipient_name = q.text(1);
        if (!q.is_null(4)) {
          r.acknowledged = true;
          r.channel = parse_channel(q.text(4)).value_or(Channel::sms);
          r.at_ms = q.int64(5);
          r.text = q.text(6);
          r.source = q.text(7);
        }
        out.push_back(std::move(r));
      }
      out[it->second].deliveries.emplace_back(parse_channel(q.text(2)).value_or(Channel::sms),
                                              parse_state(q.text(3)).value_or(DeliveryState::queued));
    }
    return out;
  }

  std::vector<AckWatch> ack_watches(int64_t now) override {
    std::lock_guard lock(mu_);
    Statement q(*db_,
                "SELECT id, urgency, ack_deadline_ms FROM directives WHERE ack_code <> ''"
                " AND ack_deadline_ms IS NOT NULL AND cancelled_at_ms IS NULL AND received_at_ms >= ?1"
                // Received after its deadline: nobody had time to acknowledge; no follow-ups.
                " AND ack_deadline_ms > received_at_ms"
                " AND NOT EXISTS (SELECT 1 FROM ack_timers t WHERE t.directive_id = directives.id"
                "                 AND t.kind = 'escalation')");
    q.bind(1, now - kAckOpenMs);
    std::vector<AckWatch> out;
    while (q.step()) {
      AckWatch w;
      w.directive_id = q.text(0);
      const std::string u = q.text(1);
      w.urgency = u == "hoa_toc" ? Urgency::hoa_toc : u == "thuong_khan" ? Urgency::thuong_khan
                  : u == "khan" ? Urgency::khan : Urgency::normal;
      w.deadline_ms = q.int64(2);
      out.push_back(std::move(w));
    }
    Statement f(*db_, "SELECT kind FROM ack_timers WHERE directive_id = ?1");
    for (auto& w : out) {
      f.bind(1, w.directive_id);
      while (f.step()) w.fired.push_back(f.text(0));
      f.reset();
    }
    return out;
  }

  std::vector<MissingAck> missing_acks(const std::string& directive_id) override {
    std::lock_guard lock(rmu_);
    // The first delivery that reached each person who has not acknowledged: a reminder goes
    // the same way.
    Statement q(*rdb_,
                "SELECT x.recipient_id, x.recipient_name, x.channel, x.address FROM deliveries x"
                " WHERE x.directive_id = ?1 AND x.purpose = 'directive' AND x.recipient_kind = 'person'"
                " AND x.address <> ''"
                " AND NOT EXISTS (SELECT 1 FROM acks a WHERE a.directive_id = x.directive_id AND a.recipient_id = x.recipient_id)"
                " ORDER BY x.recipient_id, CASE WHEN x.state IN ('sent', 'delivered', 'read') THEN 0 ELSE 1 END, x.id");
    q.bind(1, directive_id);
    std::vector<MissingAck> out;
    while (q.step()) {
      if (!out.empty() && out.back().recipient_id == q.text(0)) continue;
      out.push_back({q.text(0), q.text(1), parse_channel(q.text(2)).value_or(Channel::sms), q.text(3)});
    }
    return out;
  }

  bool add_followup(const std::string& directive_id, const std::string& kind,
                    const std::vector<PlannedDelivery>& deliveries, int64_t now) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    Statement mark(*db_, "INSERT INTO ack_timers(directive_id, kind, fired_at_ms) VALUES (?1, ?2, ?3)"
                         " ON CONFLICT DO NOTHING");
    mark.bind(1, directive_id).bind(2, kind).bind(3, now);
    mark.run();
    if (db_->changes() == 0) return false;  // fired before
    int rank_value = 0;
    {
      Statement u(*db_, "SELECT urgency FROM directives WHERE id = ?1");
      u.bind(1, directive_id);
      if (u.step()) {
        const std::string v = u.text(0);
        rank_value = v == "hoa_toc" ? 3 : v == "thuong_khan" ? 2 : v == "khan" ? 1 : 0;
      }
    }
    Statement del(*db_,
                  "INSERT INTO deliveries(directive_id, recipient_kind, recipient_id, recipient_name,"
                  " channel, address, state, urgency_rank, next_attempt_ms, token, created_at_ms, updated_at_ms,"
                  " purpose, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?8, ?8, ?10, ?11)"
                  " ON CONFLICT DO NOTHING RETURNING id");
    Statement ev(*db_, kEventInsert);
    for (const auto& p : deliveries) {
      del.bind(1, directive_id).bind(2, p.recipient_kind).bind(3, p.recipient_id).bind(4, p.recipient_name);
      del.bind(5, to_string(p.channel)).bind(6, p.address).bind(7, int64_t{rank_value}).bind(8, now);
      del.bind(9, random_token()).bind(10, to_string(p.purpose)).bind(11, p.note);
      const bool inserted = del.step();
      const int64_t id = inserted ? del.int64(0) : 0;
      del.reset();
      if (!inserted) continue;  // the same message to the same person exists
      ev.bind(1, id).bind(2, directive_id).bind(3, now).bind(4, "").bind(5, "queued");
      ev.bind(6, "acks").bind(7, std::string(to_string(p.purpose)) + (p.note.empty() ? "" : ": " + p.note));
      ev.run();
    }
    ev.bind_null(1).bind(2, directive_id).bind(3, now).bind(4, "").bind(5, kind).bind(6, "acks");
    ev.bind(7, std::to_string(deliveries.size()) + " deliveries");
    ev.run();
    tx.commit();
    return true;
  }

  std::optional<DirectiveDetail> directive(const std::string& id) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_, std::string(kSummarySelect) + " WHERE d.id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    DirectiveDetail out{summary(q), {}};
    Statement c(*rdb_,
                "SELECT channel, state, COUNT(*) FROM deliveries WHERE directive_id = ?1"
                " GROUP BY channel, state ORDER BY channel, state");
    c.bind(1, id);
    while (c.step()) out.counts.push_back(count_row(c));
    return out;
  }

  std::vector<DeliveryRow> deliveries(const std::string& directive_id) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_, std::string(kDeliverySelect) +
                         " WHERE directive_id = ?1 ORDER BY recipient_id, channel");
    q.bind(1, directive_id);
    std::vector<DeliveryRow> out;
    while (q.step()) out.push_back(delivery_row(q));
    return out;
  }

  std::vector<EventRow> events(const std::string& directive_id) override {
    std::lock_guard lock(rmu_);
    Statement q(*rdb_,
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
    std::lock_guard lock(rmu_);
    Statement c(*rdb_, "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state");
    std::vector<StateCount> out;
    while (c.step()) out.push_back(count_row(c));
    return out;
  }

  int64_t directive_count() override {
    std::lock_guard lock(rmu_);
    Statement c(*rdb_, "SELECT COUNT(*) FROM directives");
    c.step();
    return c.int64(0);
  }

  bool ping() override {
    std::lock_guard lock(rmu_);
    try {
      Statement c(*rdb_, "SELECT 1");
      return c.step();
    } catch (const StoreError&) {
      return false;
    }
  }

  std::vector<ClaimedDelivery> claim_due(Channel channel, const std::string& gateway,
                                         int64_t now, size_t limit) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    if (pg_) {
      auto out = claim_due_shared(channel, gateway, now, limit);
      tx.commit();
      return out;
    }
    Statement q(*db_,
                "SELECT id, directive_id, recipient_id, address, token, attempts, state, recipient_name,"
                " purpose, note FROM deliveries INDEXED BY deliveries_due"
                " WHERE channel = ?1 AND state IN ('queued', 'retrying') AND next_attempt_ms <= ?2"
                " ORDER BY urgency_rank DESC, next_attempt_ms, id LIMIT ?3");
    q.bind(1, to_string(channel)).bind(2, now).bind(3, static_cast<int64_t>(limit));
    std::vector<ClaimedDelivery> out;
    std::vector<std::string> from;
    while (q.step()) {
      out.push_back({q.int64(0), q.text(1), q.text(2), channel, q.text(3), q.text(4),
                     static_cast<int>(q.int64(5)) + 1, q.text(7),
                     parse_purpose(q.text(8)).value_or(Purpose::directive), q.text(9)});
      from.push_back(q.text(6));
    }
    Statement up(*db_,
                 "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, gateway = ?2,"
                 " sending_since_ms = ?3, updated_at_ms = ?3 WHERE id = ?1");
    Statement ev(*db_, kEventInsert);
    for (size_t i = 0; i < out.size(); ++i) {
      up.bind(1, out[i].id).bind(2, gateway).bind(3, now);
      up.run();
      ev.bind(1, out[i].id).bind(2, out[i].directive_id).bind(3, now).bind(4, from[i]);
      ev.bind(5, "sending").bind(6, "dispatcher");
      ev.bind(7, "attempt " + std::to_string(out[i].attempts) + " via " + gateway);
      ev.run();
    }
    tx.commit();
    return out;
  }

  // PostgreSQL, several instances: one statement claims the rows no other instance holds
  // (SKIP LOCKED), marks them with this instance's name, and writes their events.
  std::vector<ClaimedDelivery> claim_due_shared(Channel channel, const std::string& gateway, int64_t now,
                                                size_t limit) {
    Statement q(*db_,
                "WITH c AS (SELECT id, state, next_attempt_ms FROM deliveries"
                "   WHERE channel = ?1 AND state IN ('queued', 'retrying') AND next_attempt_ms <= ?2"
                "   ORDER BY urgency_rank DESC, next_attempt_ms, id LIMIT ?3 FOR UPDATE SKIP LOCKED),"
                " u AS (UPDATE deliveries d SET state = 'sending', attempts = d.attempts + 1, gateway = ?4,"
                "   sending_since_ms = ?2, updated_at_ms = ?2, claimed_by = ?5 FROM c WHERE d.id = c.id"
                "   RETURNING d.id, d.directive_id, d.recipient_id, d.address, d.token, d.attempts, c.state AS from_state,"
                "   d.recipient_name, d.purpose, d.note, d.urgency_rank, c.next_attempt_ms),"
                " e AS (INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
                "   SELECT id, directive_id, ?2, from_state, 'sending', 'dispatcher',"
                "   'attempt ' || attempts || ' via ' || ?4 FROM u)"
                " SELECT id, directive_id, recipient_id, address, token, attempts, recipient_name, purpose, note"
                " FROM u ORDER BY urgency_rank DESC, next_attempt_ms, id");
    q.bind(1, to_string(channel)).bind(2, now).bind(3, static_cast<int64_t>(limit)).bind(4, gateway);
    q.bind(5, options_.instance);
    std::vector<ClaimedDelivery> out;
    while (q.step())
      out.push_back({q.int64(0), q.text(1), q.text(2), channel, q.text(3), q.text(4), static_cast<int>(q.int64(5)),
                     q.text(6), parse_purpose(q.text(7)).value_or(Purpose::directive), q.text(8)});
    return out;
  }

  std::optional<int64_t> next_due_ms(Channel channel) override {
    std::lock_guard lock(mu_);
    Statement q(*db_,
                "SELECT MIN(next_attempt_ms) FROM deliveries"
                " WHERE channel = ?1 AND state IN ('queued', 'retrying')");
    q.bind(1, to_string(channel));
    if (!q.step() || q.is_null(0)) return std::nullopt;
    return q.int64(0);
  }

  TransitionResult transition(int64_t id, const TransitionRequest& t) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    TransitionResult r = transition_locked(id, t, now_ms());
    tx.commit();
    return r;
  }

  size_t expire_unconfirmed(int64_t now) override {
    std::lock_guard lock(mu_);
    std::vector<std::pair<int64_t, int64_t>> due;  // id, wait
    std::optional<Transaction> tx;
    // PostgreSQL: every instance looks; each takes the rows no other holds.
    if (pg_) {
      check_batch();
      tx.emplace(*db_);
    }
    {
      static const std::string kDue =
          "SELECT id, fallback_after_ms FROM deliveries WHERE state = 'sent' AND fallback <> ''"
          " AND fallback_after_ms > 0 AND COALESCE(sent_at_ms, updated_at_ms) + fallback_after_ms <= ?1"
          " LIMIT 1000";
      static const std::string kDueShared = kDue + " FOR UPDATE SKIP LOCKED";
      Statement q(*db_, pg_ ? kDueShared : kDue);
      q.bind(1, now);
      while (q.step()) due.emplace_back(q.int64(0), q.int64(1));
    }
    if (due.empty()) return 0;
    if (!tx) {
      check_batch();
      tx.emplace(*db_);
    }
    for (const auto& [id, wait] : due) {
      TransitionRequest t;
      t.to = DeliveryState::expired;
      t.cause = Cause::receipt_timeout;
      t.source = "fallback";
      t.error_code = "no_receipt";
      t.error_text = "no delivery receipt within " + std::to_string(wait / 1000) + " s";
      transition_locked(id, t, now);
    }
    tx->commit();
    return due.size();
  }

  std::optional<DeliveryRow> delivery(int64_t id) override {
    std::lock_guard lock(mu_);
    Statement q(*db_, std::string(kDeliverySelect) + " WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return delivery_row(q);
  }

  std::optional<DeliveryRow> delivery_by_provider_ref(const std::string& gateway,
                                                      const std::string& ref) override {
    if (ref.empty()) return std::nullopt;
    std::lock_guard lock(mu_);
    Statement q(*db_, std::string(kDeliverySelect) +
                         " WHERE gateway = ?1 AND provider_ref = ?2"
                         " AND provider_ref <> '' ORDER BY id DESC LIMIT 1");
    q.bind(1, gateway).bind(2, ref);
    if (!q.step()) return std::nullopt;
    return delivery_row(q);
  }

  std::optional<TransitionResult> apply_zalo_event(const std::string& msg_id, const std::string& event,
                                                   int64_t delivery_id, const TransitionRequest& t) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    const int64_t now = now_ms();
    Statement seen(*db_, "INSERT INTO zalo_events(msg_id, event, at_ms) VALUES (?1, ?2, ?3)"
                         " ON CONFLICT DO NOTHING");
    seen.bind(1, msg_id).bind(2, event).bind(3, now);
    seen.run();
    if (db_->changes() == 0) return std::nullopt;  // rolls back: nothing new
    TransitionResult r = transition_locked(delivery_id, t, now);
    // Zalo resends an unanswered event for 12 hours; a week of keys is plenty. A repeat
    // after that is harmless anyway: states only move forward.
    Statement prune(*db_, "DELETE FROM zalo_events WHERE at_ms < ?1");
    prune.bind(1, now - kZaloEventKeepMs);
    prune.run();
    tx.commit();
    return r;
  }

  std::optional<DeliveryRow> delivery_by_token(const std::string& token) override {
    std::lock_guard lock(mu_);
    // The token is a credential. An index lookup by the whole token would compare it byte
    // by byte, and its timing would tell how much of a guess was right. The index is asked
    // for the first half only (a selector: timing it reveals nothing that helps with the
    // rest), and the whole token is then compared in constant time.
    if (token.size() < 16) return std::nullopt;
    const std::string selector = token.substr(0, 16);
    static const std::string kByToken =
        std::string(kDeliverySelect).replace(std::string(kDeliverySelect).rfind(" FROM "), 0, ", token") +
        " WHERE token >= ?1 AND token < ?2";
    Statement q(*db_, kByToken);
    q.bind(1, selector);
    q.bind(2, selector + "\x7f");
    while (q.step())
      if (constant_time_equal(q.text(15), token)) return delivery_row(q);
    return std::nullopt;
  }

  std::optional<TakenIn> taken_in(const std::string& id) override {
    std::lock_guard lock(idb_ ? imu_ : mu_);  // intake asks: on its connection
    Statement q(intake_db(), "SELECT raw, intake_complete FROM directives WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return TakenIn{q.text(0), q.int64(1) != 0};
  }

  std::optional<std::string> directive_raw(const std::string& id) override {
    std::lock_guard lock(mu_);
    Statement q(*db_, "SELECT raw FROM directives WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return q.text(0);
  }

  size_t recover_in_flight(int64_t now, int64_t grace_ms) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    Statement ev(*db_,
                 "INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source,"
                 " detail) SELECT id, directive_id, ?1, 'sending', 'retrying', 'recovery',"
                 " 'in flight at restart; resend after ' || ?2 || ' ms unless a receipt settles it'"
                 " FROM deliveries WHERE state = 'sending' AND claimed_by IN ('', ?3)");
    ev.bind(1, now).bind(2, grace_ms).bind(3, options_.instance);
    ev.run();
    // Only this instance's own claims (on SQLite, all): another instance's are its own
    // until its lease runs out (take_over).
    Statement up(*db_,
                 "UPDATE deliveries SET state = 'retrying', next_attempt_ms = ?1 + ?2,"
                 " sending_since_ms = NULL, updated_at_ms = ?1 WHERE state = 'sending' AND claimed_by IN ('', ?3)");
    up.bind(1, now).bind(2, grace_ms).bind(3, options_.instance);
    up.run();
    size_t n = static_cast<size_t>(db_->changes());
    tx.commit();
    return n;
  }

  size_t release_unsent(const std::vector<int64_t>& ids, int64_t now) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    Statement up(*db_,
                 "UPDATE deliveries SET state = 'retrying', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, next_attempt_ms = ?2,"
                 " sending_since_ms = NULL, updated_at_ms = ?2 WHERE id = ?1 AND state = 'sending' AND claimed_by IN ('', ?3)");
    Statement ev(*db_, kEventInsert);
    Statement dir(*db_, "SELECT directive_id FROM deliveries WHERE id = ?1");
    size_t n = 0;
    for (int64_t id : ids) {
      up.bind(1, id).bind(2, now).bind(3, options_.instance);
      up.run();
      if (db_->changes() == 0) continue;  // settled meanwhile, or taken over by another instance
      ++n;
      dir.bind(1, id);
      std::string directive_id = dir.step() ? dir.text(0) : std::string();
      dir.reset();
      ev.bind(1, id).bind(2, directive_id).bind(3, now).bind(4, "sending").bind(5, "retrying");
      ev.bind(6, "dispatcher").bind(7, "claimed but not sent before shutdown; due again");
      ev.run();
    }
    tx.commit();
    return n;
  }

  std::map<std::string, std::string> gateway_state(const std::string& gateway) override {
    std::lock_guard lock(mu_);
    Statement q(*db_, "SELECT key, value FROM gateway_state WHERE gateway = ?1");
    q.bind(1, gateway);
    std::map<std::string, std::string> out;
    while (q.step()) out[q.text(0)] = q.text(1);
    return out;
  }

  void put_gateway_state(const std::string& gateway,
                         const std::map<std::string, std::string>& values) override {
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    Statement up(*db_,
                 "INSERT INTO gateway_state(gateway, key, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT(gateway, key) DO UPDATE SET value = excluded.value,"
                 " updated_at_ms = excluded.updated_at_ms");
    for (const auto& [k, v] : values) {
      up.bind(1, gateway).bind(2, k).bind(3, v).bind(4, now_ms());
      up.run();
    }
    tx.commit();
  }

  bool shared() const override { return pg_; }

  void renew_lease(int64_t now) override {
    if (!pg_) return;
    std::lock_guard lock(cmu_);
    Statement up(*cdb_,
                 "INSERT INTO instances(name, host, pid, started_at_ms, heartbeat_ms, lease_ms)"
                 " VALUES (?1, ?2, ?3, ?4, " + std::string(kServerNowMs) + ", ?5)"
                 " ON CONFLICT (name) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms,"
                 " lease_ms = excluded.lease_ms, host = excluded.host, pid = excluded.pid");
    up.bind(1, options_.instance).bind(2, host_name()).bind(3, static_cast<int64_t>(::getpid()));
    up.bind(4, now).bind(5, options_.lease_ms);
    up.run();
  }

  size_t take_over(int64_t now, int64_t grace_ms) override {
    if (!pg_) return 0;
    std::lock_guard lock(mu_);
    check_batch();
    Transaction tx(*db_);
    Statement q(*db_,
                "WITH gone AS (SELECT name FROM instances WHERE heartbeat_ms + lease_ms < " +
                    std::string(kServerNowMs) + " AND name <> ?3),"
                " t AS (SELECT id, claimed_by FROM deliveries WHERE state = 'sending'"
                "   AND claimed_by IN (SELECT name FROM gone) FOR UPDATE SKIP LOCKED),"
                " u AS (UPDATE deliveries d SET state = 'retrying', next_attempt_ms = ?1 + ?2,"
                "   sending_since_ms = NULL, updated_at_ms = ?1, claimed_by = '' FROM t WHERE d.id = t.id"
                "   RETURNING d.id, d.directive_id, t.claimed_by),"
                " e AS (INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
                "   SELECT id, directive_id, ?1, 'sending', 'retrying', 'takeover',"
                "   'claimed by ' || claimed_by || ', whose lease ran out; taken over by ' || ?3 ||"
                "   '; resend after ' || ?2 || ' ms unless a receipt settles it' FROM u)"
                " SELECT COUNT(*) FROM u");
    q.bind(1, now).bind(2, grace_ms).bind(3, options_.instance);
    const size_t n = q.step() ? static_cast<size_t>(q.int64(0)) : 0;
    q.reset();
    tx.commit();
    return n;
  }

  int64_t take_rate_tokens(const std::string& gateway, int64_t want, double rate, double burst) override {
    if (!pg_ || rate <= 0) return want;
    std::lock_guard lock(cmu_);
    // Refilled on the server's clock, so that the instances' clocks need not agree.
    Statement q(*cdb_,
                "WITH now AS (SELECT " + std::string(kServerNowMs) + " AS ms),"
                " b AS (SELECT r.gateway, LEAST(?4::float8, r.tokens + GREATEST(0, now.ms - r.updated_ms) * ?3::float8 / 1000.0) AS t,"
                "   now.ms FROM rate_buckets r, now WHERE r.gateway = ?1 FOR UPDATE OF r)"
                " UPDATE rate_buckets r SET tokens = b.t - LEAST(?2, FLOOR(b.t)), updated_ms = GREATEST(r.updated_ms, b.ms)"
                " FROM b WHERE r.gateway = b.gateway RETURNING LEAST(?2, FLOOR(b.t))::bigint");
    auto take = [&]() -> std::optional<int64_t> {
      q.bind(1, gateway).bind(2, want).bind(3, std::to_string(rate)).bind(4, std::to_string(burst));
      std::optional<int64_t> granted;
      if (q.step()) granted = std::max<int64_t>(0, q.int64(0));
      q.reset();
      return granted;
    };
    if (auto granted = take()) return *granted;
    // The gateway's first request: its bucket starts full.
    Statement ins(*cdb_, "INSERT INTO rate_buckets(gateway, tokens, updated_ms) VALUES (?1, ?2::float8, " +
                             std::string(kServerNowMs) + ") ON CONFLICT (gateway) DO NOTHING");
    ins.bind(1, gateway).bind(2, std::to_string(burst));
    ins.run();
    return take().value_or(0);
  }

  std::string keep_first_gateway_state(const std::string& gateway, const std::string& key,
                                       const std::string& value) override {
    std::lock_guard lock(mu_);
    check_batch();
    Statement ins(*db_,
                  "INSERT INTO gateway_state(gateway, key, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)"
                  " ON CONFLICT(gateway, key) DO NOTHING");
    ins.bind(1, gateway).bind(2, key).bind(3, value).bind(4, now_ms());
    ins.run();
    Statement q(*db_, "SELECT value FROM gateway_state WHERE gateway = ?1 AND key = ?2");
    q.bind(1, gateway).bind(2, key);
    return q.step() ? q.text(0) : value;
  }

  // Applies one transition inside the caller's transaction (mu_ held).
  TransitionResult transition_locked(int64_t id, const TransitionRequest& t, int64_t now) {
    TransitionResult r;
    std::string directive_id;
    {
      // Another instance may be applying a receipt to the same delivery: the row is held
      // until this transaction ends.
      Statement q(*db_, pg_ ? "SELECT state, directive_id FROM deliveries WHERE id = ?1 FOR UPDATE"
                            : "SELECT state, directive_id FROM deliveries WHERE id = ?1");
      q.bind(1, id);
      if (!q.step()) return r;
      r.found = true;
      r.from = r.state = parse_state(q.text(0)).value_or(DeliveryState::queued);
      directive_id = q.text(1);
    }
    r.applied = transition_allowed(r.from, t.to, t.cause);
    if (r.applied) {
      r.state = t.to;
      Statement up(*db_,
                   "UPDATE deliveries SET state = ?2, updated_at_ms = ?3,"
                   " error_code = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN error_code ELSE ?4 END,"
                   " error_text = CASE WHEN ?4 IS NULL THEN error_text ELSE ?5 END,"
                   " next_attempt_ms = COALESCE(?6, next_attempt_ms),"
                   " sending_since_ms = CASE WHEN ?2 = 'sending' THEN sending_since_ms ELSE NULL END,"
                   " sent_at_ms = CASE WHEN ?2 = 'sent' AND sent_at_ms IS NULL THEN ?3 ELSE sent_at_ms END"
                   " WHERE id = ?1");
      up.bind(1, id).bind(2, to_string(t.to)).bind(3, now);
      if (t.error_code) up.bind(4, *t.error_code).bind(5, t.error_text);
      else up.bind_null(4).bind_null(5);
      if (t.next_attempt_ms) up.bind(6, *t.next_attempt_ms);
      else up.bind_null(6);
      up.run();
    }
    if (t.provider_ref && !t.provider_ref->empty()) {
      Statement up(*db_, "UPDATE deliveries SET provider_ref = ?2 WHERE id = ?1 AND provider_ref = ''");
      up.bind(1, id).bind(2, *t.provider_ref);
      up.run();
    }
    std::string detail = t.detail;
    // An empty error_code clears the delivery's error: nothing to report in the event.
    if (t.error_code && !t.error_code->empty())
      detail += (detail.empty() ? "" : "; ") + *t.error_code + ": " + t.error_text;
    if (!r.applied)
      detail += std::string(detail.empty() ? "" : "; ") + "no change (" +
                std::string(to_string(t.to)) + " after " + std::string(to_string(r.from)) + ")";
    Statement ev(*db_, kEventInsert);
    ev.bind(1, id).bind(2, directive_id).bind(3, now).bind(4, to_string(r.from));
    ev.bind(5, to_string(r.state)).bind(6, t.source).bind(7, detail);
    ev.run();
    if (r.applied && t.settle_fallback) {
      Statement settle(*db_, "UPDATE deliveries SET fallback = '' WHERE id = ?1");
      settle.bind(1, id);
      settle.run();
    }
    if (r.applied && (r.state == DeliveryState::failed || r.state == DeliveryState::expired))
      r.fallback_id = spawn_fallback(id, now, t.error_code.value_or(std::string(to_string(r.state))));
    return r;
  }

  // Queues the next channel of `id`'s fallback chain, once; 0 when there is none.
  int64_t spawn_fallback(int64_t id, int64_t now, const std::string& reason) {
    Statement q(*db_,
                "SELECT directive_id, recipient_kind, recipient_id, recipient_name, urgency_rank,"
                " fallback, fallback_after_ms, channel FROM deliveries WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return 0;
    std::string chain = q.text(5);
    if (chain.empty()) return 0;
    std::string first = chain.substr(0, chain.find(','));
    std::string rest = chain.find(',') == std::string::npos ? "" : chain.substr(chain.find(',') + 1);
    auto colon = first.find(':');
    if (colon == std::string::npos) return 0;
    std::string channel = first.substr(0, colon), address = first.substr(colon + 1);
    Statement ins(*db_,
                  "INSERT INTO deliveries(directive_id, recipient_kind, recipient_id,"
                  " recipient_name, channel, address, state, urgency_rank, next_attempt_ms, token,"
                  " fallback, fallback_after_ms, fallback_of, created_at_ms, updated_at_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?10, ?11, ?12, ?8, ?8)"
                  " ON CONFLICT DO NOTHING");
    ins.bind(1, q.text(0)).bind(2, q.text(1)).bind(3, q.text(2)).bind(4, q.text(3));
    ins.bind(5, channel).bind(6, address).bind(7, q.int64(4)).bind(8, now).bind(9, random_token());
    ins.bind(10, rest).bind(11, q.int64(6)).bind(12, id);
    ins.run();
    const std::string directive_id = q.text(0), from_channel = q.text(7);
    // The chain moves on exactly once, even if this delivery fails again later.
    Statement clear(*db_, "UPDATE deliveries SET fallback = '' WHERE id = ?1");
    clear.bind(1, id);
    clear.run();
    Statement find(*db_, "SELECT id FROM deliveries WHERE directive_id = ?1 AND recipient_id = "
                        "(SELECT recipient_id FROM deliveries WHERE id = ?2) AND channel = ?3 AND fallback_of = ?2");
    find.bind(1, directive_id).bind(2, id).bind(3, channel);
    if (!find.step()) return 0;  // that channel already had a delivery: nothing new to send
    int64_t next = find.int64(0);
    Statement ev(*db_, kEventInsert);
    ev.bind(1, next).bind(2, directive_id).bind(3, now).bind(4, "").bind(5, "queued");
    ev.bind(6, "fallback").bind(7, "instead of " + from_channel + " delivery " + std::to_string(id) + " (" + reason + ")");
    ev.run();
    return next;
  }


 private:
  static constexpr int64_t kZaloEventKeepMs = 7LL * 24 * 3600 * 1000;
  static constexpr const char* kEventInsert =
      "INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
  static constexpr const char* kDeliverySelect =
      "SELECT id, directive_id, recipient_kind, recipient_id, recipient_name, channel, address,"
      " state, attempts, error_code, error_text, gateway, provider_ref, next_attempt_ms,"
      " updated_at_ms FROM deliveries";

  static DeliveryRow delivery_row(const Statement& q) {
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
    r.gateway = q.text(11);
    r.provider_ref = q.text(12);
    r.next_attempt_ms = q.int64(13);
    r.updated_at_ms = q.int64(14);
    return r;
  }

  // The directive's row (not yet complete) and its ack code.
  void insert_directive(sql::Connection& db, const Directive& d, std::string_view raw, int64_t now) {
    Statement ins(db,
                  "INSERT INTO directives(id, number, issuer_code, issuer_name, issued_at, subject,"
                  " urgency, confidentiality, ack_required, ack_deadline_ms, raw, received_at_ms, zones,"
                  " intake_complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0)");
    ins.bind(1, d.id).bind(2, d.number).bind(3, d.issuer_code).bind(4, d.issuer_name);
    ins.bind(5, d.issued_at).bind(6, d.subject).bind(7, to_string(d.urgency));
    ins.bind(8, to_string(d.confidentiality)).bind(9, int64_t{d.ack_required});
    if (d.ack_deadline_ms) ins.bind(10, *d.ack_deadline_ms);
    else ins.bind_null(10);
    ins.bind(11, raw).bind(12, now);
    std::string zones;
    if (d.loudspeaker)
      for (const auto& z : d.loudspeaker->zones) zones += (zones.empty() ? "" : ",") + z;
    ins.bind(13, zones);
    ins.run();
    if (d.ack_required) {
      // Unique among directives still open for acknowledgement: a reply names it by this.
      // Instances choosing codes at once take turns.
      if (pg_) Statement(db, "SELECT pg_advisory_xact_lock(7305010001)").run();
      Statement taken(db,
                      "SELECT 1 FROM directives WHERE ack_code = ?1 AND cancelled_at_ms IS NULL"
                      " AND received_at_ms >= ?2 LIMIT 1");
      // The directive's first candidate code that no open directive holds.
      std::string code;
      for (const std::string& candidate : ack_code_candidates(d.number, d.id)) {
        code = candidate;
        taken.bind(1, candidate).bind(2, now - kAckOpenMs);
        const bool held = taken.step();
        taken.reset();
        if (!held) break;
      }
      Statement up(db, "UPDATE directives SET ack_code = ?2 WHERE id = ?1");
      up.bind(1, d.id).bind(2, code);
      up.run();
    }
  }

  // Deliveries per intake transaction: a small first part so that sending starts at once,
  // then parts that keep each transaction (and the store writer's wait) under ~0.1 s.
  static constexpr size_t kFirstPart = 1000;
  static constexpr size_t kPart = 10000;

  static constexpr const char* kSummarySelect =
      "SELECT d.id, d.number, d.issuer_code, d.issuer_name, d.subject, d.urgency,"
      " d.confidentiality, d.issued_at, d.received_at_ms,"
      " (SELECT COUNT(*) FROM deliveries x WHERE x.directive_id = d.id),"
      " d.zones, d.cancelled_at_ms, d.cancelled_by, d.cancel_reason, d.ack_code, d.intake_complete FROM directives d";

  /// Begins a transaction (SQLite: BEGIN IMMEDIATE, which takes the write lock up front,
  /// so a busy store fails at the start rather than half-way); rolls back unless
  /// committed. Inside a batch() it is a savepoint: its own failure undoes only its own
  /// writes, and the batch commits the rest together.
  class Transaction {
   public:
    explicit Transaction(sql::Connection& c) : c_(c), nested_(c.in_transaction()) {
      run(nested_ ? "SAVEPOINT herald_tx" : c_.begin_sql());
    }
    ~Transaction() {
      if (done_) return;
      try {
        if (nested_) {
          run("ROLLBACK TO herald_tx");
          run("RELEASE herald_tx");
        } else {
          run("ROLLBACK");
        }
      } catch (const StoreError&) {
        // Nothing more to undo: the backend ended the transaction itself (SQLite on an
        // I/O error, PostgreSQL when the connection went).
      }
    }
    void commit() {
      // A transaction the backend ended (a lost connection, SQLite's own rollback) must
      // not be "committed" on a fresh session, where COMMIT would only warn.
      if (!c_.in_transaction() || c_.transaction_failed())
        throw StoreError("the transaction was lost before its commit", true);
      run(nested_ ? "RELEASE herald_tx" : "COMMIT");
      done_ = true;
    }

   private:
    void run(const char* sql) { Statement(c_, sql).run(); }
    sql::Connection& c_;
    bool nested_;
    bool done_ = false;
  };

  /// A store call inside a batch whose transaction the backend already ended (an I/O
  /// error, a full disk, a lost connection) must not run on its own in autocommit mode.
  void check_batch() const {
    if (in_batch_ && (!db_->in_transaction() || db_->transaction_failed()))
      throw StoreError("the batch's transaction was rolled back by an earlier error", true);
  }

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
    std::string zones = q.text(10);
    for (size_t start = 0; start < zones.size();) {
      size_t comma = zones.find(',', start);
      if (comma == std::string::npos) comma = zones.size();
      s.zones.push_back(zones.substr(start, comma - start));
      start = comma + 1;
    }
    if (!q.is_null(11)) s.cancelled_at_ms = q.int64(11);
    s.cancelled_by = q.text(12);
    s.cancel_reason = q.text(13);
    s.ack_code = q.text(14);
    s.intake_complete = q.int64(15) != 0;
    return s;
  }

  static StateCount count_row(const Statement& c) {
    return {parse_channel(c.text(0)).value_or(Channel::sms),
            parse_state(c.text(1)).value_or(DeliveryState::queued), c.int64(2)};
  }

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
};

}  // namespace

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
  constexpr const char* kMigrationLock = "7305010000";
  db->exec(std::string("SELECT pg_advisory_lock(") + kMigrationLock + ")");
  auto unlock = [&] {
    try {
      db->exec(std::string("SELECT pg_advisory_unlock(") + kMigrationLock + ")");
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
    Statement q(*db, std::string("SELECT host, pid, ") + kServerNowMs +
                         " - heartbeat_ms, lease_ms FROM instances WHERE name = ?1");
    q.bind(1, options.instance);
    if (q.step()) {
      const std::string host = q.text(0);
      const int64_t pid = q.int64(1), age = q.int64(2), lease = q.int64(3);
      // Ours: this process, or one on this host that is gone (this instance restarting).
      const bool gone = ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      const bool ours = host == host_name() && (pid == ::getpid() || gone);
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
