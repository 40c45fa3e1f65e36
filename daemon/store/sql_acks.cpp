// Acknowledgements' part of the store: open directives per person, acknowledging,
// replies, and the follow-ups (reminders, escalation, help) each added once.
#include <map>

#include "core/random.hpp"
#include "store/sql_store.hpp"
#include "text/vietnamese.hpp"

namespace herald {

bool SqlStore::first_reply(const std::string& key, int64_t now) {
  std::lock_guard lock(mu_);
  check_batch();
  // The receipts' keys table: the same keeping time outlives any provider's replays.
  Statement seen(*db_, "INSERT INTO receipt_keys(key, at_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
  seen.bind(1, key).bind(2, now);
  seen.run();
  return db_->changes() > 0;
}

std::vector<OpenAck> SqlStore::open_acks(const std::string& recipient_id, int64_t now) {
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

AckOutcome SqlStore::acknowledge(const std::string& directive_id, const std::string& recipient_id, Channel channel,
                                 const std::string& text, const std::string& source, int64_t now) {
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

void SqlStore::record_reply(const ReplyRecord& r, int64_t now) {
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

std::vector<AckWatch> SqlStore::ack_watches(int64_t now) {
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

std::vector<MissingAck> SqlStore::missing_acks(const std::string& directive_id) {
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

bool SqlStore::add_followup(const std::string& directive_id, const std::string& kind,
                            const std::vector<PlannedDelivery>& deliveries, int64_t now) {
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

}  // namespace herald
