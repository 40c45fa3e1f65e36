// Operators' part of the store: what the API, the dashboard and the feeds read, and what
// an operator does to a directive (cancel it, replay its failed sends, note an action).
#include <algorithm>
#include <limits>
#include <map>

#include "store/sql_store.hpp"

namespace herald {

std::vector<DirectiveSummary> SqlStore::list_directives(size_t limit, size_t offset,
                                                        const std::optional<DirectiveCursor>& before) {
  std::lock_guard lock(rmu_);
  // Newest first, ties by id: a cursor (the last row's time and id) starts the next page
  // where the last ended, whatever arrives meanwhile.
  Statement q(*rdb_, sql::text({kSummarySelect,
                       " WHERE ?3 = 0 OR d.received_at_ms < ?4 OR (d.received_at_ms = ?4 AND d.id > ?5)"
                       " ORDER BY d.received_at_ms DESC, d.id LIMIT ?1 OFFSET ?2"}));
  q.bind(1, static_cast<int64_t>(limit)).bind(2, static_cast<int64_t>(offset));
  q.bind(3, int64_t{before ? 1 : 0}).bind(4, before ? before->first : 0).bind(5, before ? before->second : "");
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

PublicStamp SqlStore::public_stamp(int64_t since_ms) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_,
              "SELECT COUNT(*), COALESCE(MAX(received_at_ms), 0), COALESCE(MAX(cancelled_at_ms), 0) FROM directives"
              " WHERE zones <> '' AND received_at_ms >= ?1");
  q.bind(1, since_ms);
  q.step();
  return {q.int64(0), q.int64(1), q.int64(2)};
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

namespace {
// No limit: as many rows as there are (SQLite reads LIMIT -1 so; PostgreSQL, LIMIT NULL).
int64_t limit_value(size_t limit) { return limit == 0 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(limit); }
}  // namespace

std::vector<DeliveryRow> SqlStore::deliveries(const std::string& directive_id, const DeliveryQuery& f) {
  std::lock_guard lock(rmu_);
  // In id order from the cursor: the directive's unique key leads with directive_id, so a
  // page costs its own rows however large the directive.
  Statement q(*rdb_, sql::text({kDeliverySelect,
                       " WHERE directive_id = ?1 AND id > ?2 AND (?3 = '' OR state = ?3)"
                       " AND (?4 = '' OR channel = ?4) AND (?5 = '' OR recipient_id = ?5)"
                       " ORDER BY id LIMIT ?6"}));
  q.bind(1, directive_id).bind(2, f.after);
  q.bind(3, f.state ? to_string(*f.state) : std::string_view(""));
  q.bind(4, f.channel ? to_string(*f.channel) : std::string_view(""));
  q.bind(5, f.recipient_id).bind(6, limit_value(f.limit));
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

std::vector<EventRow> SqlStore::events(const std::string& directive_id, const EventQuery& f) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_,
              "SELECT id, COALESCE(delivery_id, 0), directive_id, at_ms, from_state, to_state,"
              " source, detail FROM events WHERE directive_id = ?1 AND id > ?2"
              " AND (?3 = 0 OR delivery_id = ?4) ORDER BY id LIMIT ?5");
  q.bind(1, directive_id).bind(2, f.after).bind(3, int64_t{f.delivery_id ? 1 : 0});
  q.bind(4, f.delivery_id.value_or(0)).bind(5, limit_value(f.limit));
  std::vector<EventRow> out;
  while (q.step())
    out.push_back({q.int64(0), q.int64(1), q.text(2), q.int64(3), q.text(4), q.text(5),
                   q.text(6), q.text(7)});
  return out;
}

std::vector<AckRow> SqlStore::ack_status(const std::string& directive_id, const AckQuery& f) {
  std::lock_guard lock(rmu_);
  std::vector<AckRow> out;
  std::map<std::string, size_t> index;
  // The page's recipients first (a recipient has a delivery per channel), then their rows.
  std::string last;
  if (f.limit > 0) {
    Statement p(*rdb_,
                "SELECT DISTINCT x.recipient_id FROM deliveries x WHERE x.directive_id = ?1"
                " AND x.purpose = 'directive' AND x.recipient_kind = 'person' AND x.recipient_id > ?2"
                " AND (?3 = 0 OR NOT EXISTS (SELECT 1 FROM acks a WHERE a.directive_id = ?1"
                " AND a.recipient_id = x.recipient_id)) ORDER BY x.recipient_id LIMIT ?4");
    p.bind(1, directive_id).bind(2, f.after).bind(3, int64_t{f.missing_only}).bind(4, static_cast<int64_t>(f.limit));
    while (p.step()) last = p.text(0);
    if (last.empty()) return out;
  }
  Statement q(*rdb_,
              "SELECT x.recipient_id, x.recipient_name, x.channel, x.state, a.channel, a.at_ms, a.text, a.source"
              " FROM deliveries x LEFT JOIN acks a ON a.directive_id = x.directive_id AND a.recipient_id = x.recipient_id"
              " WHERE x.directive_id = ?1 AND x.purpose = 'directive' AND x.recipient_kind = 'person'"
              " AND x.recipient_id > ?2 AND (?3 = '' OR x.recipient_id <= ?3) AND (?4 = 0 OR a.recipient_id IS NULL)"
              " ORDER BY x.recipient_id, x.id");
  q.bind(1, directive_id).bind(2, f.after).bind(3, last).bind(4, int64_t{f.missing_only});
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

AckTotals SqlStore::ack_totals(const std::string& directive_id) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_,
              "SELECT COUNT(DISTINCT x.recipient_id), (SELECT COUNT(*) FROM acks a WHERE a.directive_id = ?1)"
              " FROM deliveries x WHERE x.directive_id = ?1 AND x.purpose = 'directive' AND x.recipient_kind = 'person'");
  q.bind(1, directive_id);
  q.step();
  return {q.int64(1), std::max<int64_t>(0, q.int64(0) - q.int64(1))};
}

std::vector<ReplyRow> SqlStore::replies(size_t limit, int64_t before_id) {
  std::lock_guard lock(rmu_);
  Statement q(*rdb_,
              "SELECT id, at_ms, channel, sender, text, outcome, COALESCE(directive_id, ''),"
              " COALESCE(recipient_id, ''), detail FROM replies WHERE ?2 = 0 OR id < ?2 ORDER BY id DESC LIMIT ?1");
  q.bind(1, static_cast<int64_t>(limit)).bind(2, before_id);
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

}  // namespace herald
