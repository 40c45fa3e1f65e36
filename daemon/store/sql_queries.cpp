// Operators' part of the store: what the API, the dashboard and the feeds read, and what
// an operator does to a directive (cancel it, replay its failed sends, note an action).
#include <algorithm>
#include <map>

#include "core/random.hpp"
#include "store/sql_store.hpp"

namespace herald {

std::vector<DirectiveSummary> SqlStore::list_directives(size_t limit, size_t offset) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, sql::text({kSummarySelect,
                       " ORDER BY d.received_at_ms DESC, d.id LIMIT ?1 OFFSET ?2"}));
  q.bind(1, static_cast<int64_t>(limit)).bind(2, static_cast<int64_t>(offset));
  std::vector<DirectiveSummary> out;
  while (q.step()) out.push_back(summary(q));
  return out;
}

std::vector<DirectiveSummary> SqlStore::public_directives(int64_t since_ms, size_t limit) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, sql::text({kSummarySelect,
                       " WHERE d.zones <> '' AND d.received_at_ms >= ?1"
                       " ORDER BY d.received_at_ms DESC, d.id LIMIT ?2"}));
  q.bind(1, since_ms).bind(2, static_cast<int64_t>(limit));
  std::vector<DirectiveSummary> out;
  while (q.step()) out.push_back(summary(q));
  return out;
}

std::optional<DirectiveDetail> SqlStore::directive(const std::string& id) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, sql::text({kSummarySelect, " WHERE d.id = ?1"}));
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

std::optional<DirectiveSummary> SqlStore::directive_summary(const std::string& id) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, sql::text({kSummarySelect, " WHERE d.id = ?1"}));
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return summary(q);
}

std::optional<std::string> SqlStore::directive_raw(const std::string& id) {
  // The read connection: a public feed asking must not wait behind the store writer.
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, "SELECT raw FROM directives WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

std::vector<DeliveryRow> SqlStore::deliveries(const std::string& directive_id) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_, sql::text({kDeliverySelect,
                       " WHERE directive_id = ?1 ORDER BY recipient_id, channel"}));
  q.bind(1, directive_id);
  std::vector<DeliveryRow> out;
  while (q.step()) out.push_back(delivery_row(q));
  return out;
}

std::optional<DeliveryRow> SqlStore::delivery(int64_t id) {
  std::lock_guard lock(mu_);
  Statement q(*db_, sql::text({kDeliverySelect, " WHERE id = ?1"}));
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return delivery_row(q);
}

std::vector<EventRow> SqlStore::events(const std::string& directive_id) {
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

std::vector<AckRow> SqlStore::ack_status(const std::string& directive_id) {
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

std::vector<ReplyRow> SqlStore::replies(size_t limit) {
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

std::vector<StateCount> SqlStore::delivery_counts() {
  std::lock_guard lock(rmu_);
  Statement c(*rdb_, "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state");
  std::vector<StateCount> out;
  while (c.step()) out.push_back(count_row(c));
  return out;
}

int64_t SqlStore::directive_count() {
  std::lock_guard lock(rmu_);
  Statement c(*rdb_, "SELECT COUNT(*) FROM directives");
  c.step();
  return c.int64(0);
}

bool SqlStore::ping() {
  std::lock_guard lock(rmu_);
  try {
    Statement c(*rdb_, "SELECT 1");
    return c.step();
  } catch (const StoreError&) {
    return false;
  }
}

CancelOutcome SqlStore::cancel_directive(const std::string& id, const std::string& by, const std::string& reason,
                                         int64_t now) {
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

std::vector<ReplayItem> SqlStore::replay(const std::string& directive_id, const ReplayFilter& filter,
                                         const std::function<std::string(const std::string&, Channel)>& address_of,
                                         bool dry_run, const std::string& by, const std::string& reason, int64_t now,
                                         bool* cancelled) {
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

void SqlStore::record_event(const std::string& directive_id, const std::string& to_state, const std::string& source,
                            const std::string& detail, int64_t now) {
  std::lock_guard lock(mu_);
  check_batch();
  Statement ev(*db_, kEventInsert);
  ev.bind_null(1).bind(2, directive_id).bind(3, now).bind(4, "").bind(5, to_state).bind(6, source).bind(7, detail);
  ev.run();
}

}  // namespace herald
