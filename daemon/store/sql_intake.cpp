// Intake's part of the store: a directive and its deliveries taken in, in parts, once.
#include "core/random.hpp"
#include "core/time.hpp"
#include "directive/ack_code.hpp"
#include "store/sql_store.hpp"

namespace herald {

IntakeOutcome SqlStore::commit_directive(const Directive& d, std::string_view raw, const DeliverySource& deliveries,
                                         const std::function<void()>& part_committed) {
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

std::optional<IntakeStore::TakenIn> SqlStore::taken_in(const std::string& id) {
  std::lock_guard lock(idb_ ? imu_ : mu_);  // intake asks: on its connection
  Statement q(intake_db(), "SELECT raw, intake_complete FROM directives WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return TakenIn{q.text(0), q.int64(1) != 0};
}

std::vector<std::string> SqlStore::unfinished_intakes() {
  std::lock_guard lock(idb_ ? imu_ : mu_);
  Statement q(intake_db(), "SELECT id FROM directives WHERE intake_complete = 0 ORDER BY received_at_ms, id");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

// The directive's row (not yet complete) and its ack code.
void SqlStore::insert_directive(sql::Connection& db, const Directive& d, std::string_view raw, int64_t now) {
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

}  // namespace herald
