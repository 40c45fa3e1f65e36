// The store's parts every role shares: transactions, batches, and the transitions that
// move a delivery (with its event, and the next channel of its fallback chain).
#include "store/sql_store.hpp"

#include "core/random.hpp"

namespace herald {

SqlStore::Transaction::~Transaction() {
  if (done_) return;
  try {
    if (nested_) {
      run("ROLLBACK TO herald_tx");
      run("RELEASE herald_tx");
    } else {
      run("ROLLBACK");
    }
  } catch (const StoreError&) {
    // Nothing more to undo: the backend ended the transaction itself (SQLite on an I/O
    // error, PostgreSQL when the connection went).
  }
}

void SqlStore::Transaction::commit() {
  // A transaction the backend ended (a lost connection, SQLite's own rollback) must not
  // be "committed" on a fresh session, where COMMIT would only warn.
  if (!c_.in_transaction() || c_.transaction_failed())
    throw StoreError("the transaction was lost before its commit", true);
  run(nested_ ? "RELEASE herald_tx" : "COMMIT");
  done_ = true;
}

void SqlStore::batch(const std::function<void()>& fn) {
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

void SqlStore::atomically(const std::function<void()>& fn) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  fn();
  tx.commit();
}

// Applies one transition inside the caller's transaction (mu_ held).
TransitionResult SqlStore::transition_locked(int64_t id, const TransitionRequest& t, int64_t now) {
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
  bool ref_set = false;
  if (t.provider_ref && !t.provider_ref->empty()) {
    Statement up(*db_, "UPDATE deliveries SET provider_ref = ?2 WHERE id = ?1 AND provider_ref = ''");
    up.bind(1, id).bind(2, *t.provider_ref);
    up.run();
    ref_set = db_->changes() > 0;
  }
  if (!r.applied && !ref_set && !t.record_unchanged) return r;
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

int64_t SqlStore::spawn_fallback(int64_t id, int64_t now, const std::string& reason) {
  Statement q(*db_,
              "SELECT directive_id, recipient_kind, recipient_id, recipient_name, urgency_rank,"
              " fallback, fallback_after_ms, channel,"
              " (SELECT cancelled_at_ms FROM directives d WHERE d.id = deliveries.directive_id)"
              " FROM deliveries WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return 0;
  std::string chain = q.text(5);
  if (chain.empty() || !q.is_null(8)) return 0;  // a cancelled directive goes no further
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

/// A store call inside a batch whose transaction the backend already ended (an I/O
/// error, a full disk, a lost connection) must not run on its own in autocommit mode.
void SqlStore::check_batch() const {
  if (in_batch_ && (!db_->in_transaction() || db_->transaction_failed()))
    throw StoreError("the batch's transaction was rolled back by an earlier error", true);
}

DeliveryRow SqlStore::delivery_row(const Statement& q) {
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

DirectiveSummary SqlStore::summary(const Statement& q) {
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

StateCount SqlStore::count_row(const Statement& c) {
  return {parse_channel(c.text(0)).value_or(Channel::sms),
          parse_state(c.text(1)).value_or(DeliveryState::queued), c.int64(2)};
}

}  // namespace herald
