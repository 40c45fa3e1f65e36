// Dispatch's part of the store: claims, outcomes, what a stop or a crash left in flight,
// fallbacks whose receipt never came, and the gateways' persisted credentials.
#include <array>

#include "core/time.hpp"
#include "store/sql_store.hpp"

namespace herald {

std::vector<ClaimedDelivery> SqlStore::claim_due(Channel channel, const std::string& gateway,
                                                 int64_t now, size_t limit) {
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
              " AND NOT EXISTS (SELECT 1 FROM directives c WHERE c.id = deliveries.directive_id"
              " AND c.cancelled_at_ms IS NOT NULL)"
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
std::vector<ClaimedDelivery> SqlStore::claim_due_shared(Channel channel, const std::string& gateway, int64_t now,
                                                        size_t limit) {
  Statement q(*db_,
              "WITH c AS (SELECT id, state, next_attempt_ms FROM deliveries"
              "   WHERE channel = ?1 AND state IN ('queued', 'retrying') AND next_attempt_ms <= ?2"
              "   AND NOT EXISTS (SELECT 1 FROM directives x WHERE x.id = deliveries.directive_id"
              "   AND x.cancelled_at_ms IS NOT NULL)"
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

std::optional<int64_t> SqlStore::next_due_ms(Channel channel) {
  std::lock_guard lock(mu_);
  Statement q(*db_,
              "SELECT MIN(next_attempt_ms) FROM deliveries"
              " WHERE channel = ?1 AND state IN ('queued', 'retrying')");
  q.bind(1, to_string(channel));
  if (!q.step() || q.is_null(0)) return std::nullopt;
  return q.int64(0);
}

TransitionResult SqlStore::transition(int64_t id, const TransitionRequest& t) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  TransitionResult r = transition_locked(id, t, now_ms());
  tx.commit();
  return r;
}

size_t SqlStore::expire_unconfirmed(int64_t now) {
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

size_t SqlStore::recover_in_flight(int64_t now, int64_t grace_ms) {
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

size_t SqlStore::release_unsent(const std::vector<int64_t>& ids, int64_t now) {
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

std::map<std::string, std::string> SqlStore::gateway_state(const std::string& gateway) {
  std::lock_guard lock(mu_);
  Statement q(*db_, "SELECT key, value FROM gateway_state WHERE gateway = ?1");
  q.bind(1, gateway);
  std::map<std::string, std::string> out;
  while (q.step()) out[q.text(0)] = opened(gateway, q.text(0), q.text(1));
  return out;
}

void SqlStore::put_gateway_state(const std::string& gateway,
                                 const std::map<std::string, std::string>& values) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  Statement up(*db_,
               "INSERT INTO gateway_state(gateway, key, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)"
               " ON CONFLICT(gateway, key) DO UPDATE SET value = excluded.value,"
               " updated_at_ms = excluded.updated_at_ms");
  for (const auto& [k, v] : values) {
    up.bind(1, gateway).bind(2, k).bind(3, sealed(gateway, k, v)).bind(4, now_ms());
    up.run();
  }
  tx.commit();
}

std::string SqlStore::keep_first_gateway_state(const std::string& gateway, const std::string& key,
                                               const std::string& value) {
  std::lock_guard lock(mu_);
  check_batch();
  Statement ins(*db_,
                "INSERT INTO gateway_state(gateway, key, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)"
                " ON CONFLICT(gateway, key) DO NOTHING");
  ins.bind(1, gateway).bind(2, key).bind(3, sealed(gateway, key, value)).bind(4, now_ms());
  ins.run();
  Statement q(*db_, "SELECT value FROM gateway_state WHERE gateway = ?1 AND key = ?2");
  q.bind(1, gateway).bind(2, key);
  return q.step() ? opened(gateway, key, q.text(0)) : value;
}

std::string SqlStore::sealed(const std::string& gateway, const std::string& key, const std::string& value) const {
  return seal_ ? seal_->seal(value, gateway + "." + key) : value;
}

std::string SqlStore::opened(const std::string& gateway, const std::string& key, const std::string& value) const {
  if (!SecretSeal::is_sealed(value)) return value;
  if (!seal_)
    throw StoreError("gateway state " + gateway + "." + key + " is sealed with a store key and heraldd has none"
                     " (the credential store-key: docs/operations.md)");
  auto plain = seal_->open(value, gateway + "." + key);
  if (!plain)
    throw StoreError("gateway state " + gateway + "." + key + " does not open with this store key (another"
                     " key sealed it, or it was altered)");
  return *plain;
}

size_t SqlStore::seal_gateway_state(std::shared_ptr<const SecretSeal> seal) {
  std::lock_guard lock(mu_);
  seal_ = std::move(seal);
  if (!seal_) return 0;
  check_batch();
  Transaction tx(*db_);
  std::vector<std::array<std::string, 3>> plain;
  {
    Statement q(*db_, "SELECT gateway, key, value FROM gateway_state");
    while (q.step())
      if (!SecretSeal::is_sealed(q.text(2))) plain.push_back({q.text(0), q.text(1), q.text(2)});
  }
  Statement up(*db_, "UPDATE gateway_state SET value = ?3 WHERE gateway = ?1 AND key = ?2");
  for (const auto& [gateway, key, value] : plain) {
    up.bind(1, gateway).bind(2, key).bind(3, sealed(gateway, key, value));
    up.run();
  }
  tx.commit();
  return plain.size();
}

std::optional<StoredDirective> SqlStore::directive_to_send(const std::string& id) {
  std::lock_guard lock(mu_);
  Statement q(*db_, "SELECT raw, ack_code FROM directives WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return StoredDirective{q.text(0), q.text(1)};
}

}  // namespace herald
