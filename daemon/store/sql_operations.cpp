// What an operator does to a directive, in steps that keep every transaction short however
// large the directive is, and that a stop does not leave half done: a cancel (marked at
// once, its waiting deliveries cancelled in batches), a replay (a job whose batches move
// its cursor), and a note in the audit trail.
#include <algorithm>
#include <limits>

#include "core/random.hpp"
#include "store/sql_store.hpp"

namespace herald {

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
  // One row: from this commit on, no delivery of the directive is claimed for sending
  // (claim_due skips cancelled directives), whether or not its batches have run yet.
  Statement up(*db_, "UPDATE directives SET cancelled_at_ms = ?2, cancelled_by = ?3, cancel_reason = ?4 WHERE id = ?1");
  up.bind(1, id).bind(2, now).bind(3, by).bind(4, reason);
  up.run();
  // A replay under way ends with it.
  Statement jobs(*db_, "UPDATE replay_jobs SET done = 1 WHERE directive_id = ?1 AND done = 0");
  jobs.bind(1, id);
  jobs.run();
  Statement ev(*db_, kEventInsert);
  ev.bind_null(1).bind(2, id).bind(3, now).bind(4, "").bind(5, "cancelled").bind(6, "operator:" + by);
  ev.bind(7, reason.empty() ? std::string("directive cancelled") : "directive cancelled; reason: " + reason);
  ev.run();
  tx.commit();
  return out;
}

CancelBatch SqlStore::cancel_waiting(const std::string& id, int64_t after, size_t limit, int64_t now) {
  std::lock_guard lock(mu_);
  CancelBatch out;
  check_batch();
  Transaction tx(*db_);
  std::string by, reason;
  {
    Statement q(*db_, "SELECT cancelled_by, cancel_reason FROM directives WHERE id = ?1 AND cancelled_at_ms IS NOT NULL");
    q.bind(1, id);
    if (!q.step()) {
      out.done = true;
      return out;
    }
    by = q.text(0);
    reason = q.text(1);
  }
  // Set-based, in id order from the cursor through the (directive_id, id) index: one batch
  // costs its own rows however large the directive. The events say what transition()
  // would have said of each.
  const std::string source = "operator:" + by;
  const std::string detail = (reason.empty() ? std::string("directive cancelled") : "directive cancelled: " + reason) +
                             "; cancelled: the directive was cancelled";
  if (pg_) {
    // Another instance cancelling the same directive takes other rows (SKIP LOCKED).
    Statement q(*db_,
                "WITH c AS (SELECT id, state FROM deliveries WHERE directive_id = ?1 AND id > ?2"
                "   AND state IN ('queued', 'retrying') ORDER BY id LIMIT ?3 FOR UPDATE SKIP LOCKED),"
                " u AS (UPDATE deliveries d SET state = 'cancelled', updated_at_ms = ?4, error_code = 'cancelled',"
                "   error_text = 'the directive was cancelled', sending_since_ms = NULL FROM c WHERE d.id = c.id"
                "   RETURNING d.id, d.directive_id, c.state AS from_state),"
                " e AS (INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
                "   SELECT id, directive_id, ?4, from_state, 'cancelled', ?5, ?6 FROM u)"
                " SELECT COUNT(*), COALESCE(MAX(id), 0) FROM u");
    q.bind(1, id).bind(2, after).bind(3, static_cast<int64_t>(limit)).bind(4, now).bind(5, source).bind(6, detail);
    q.step();
    out.cancelled = static_cast<size_t>(q.int64(0));
    out.after = q.int64(1);
  } else {
    Statement q(*db_,
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM (SELECT id FROM deliveries WHERE directive_id = ?1"
                " AND id > ?2 AND state IN ('queued', 'retrying') ORDER BY id LIMIT ?3)");
    q.bind(1, id).bind(2, after).bind(3, static_cast<int64_t>(limit));
    q.step();
    out.cancelled = static_cast<size_t>(q.int64(0));
    out.after = q.int64(1);
    if (out.cancelled > 0) {
      Statement ev(*db_,
                   "INSERT INTO events(delivery_id, directive_id, at_ms, from_state, to_state, source, detail)"
                   " SELECT id, directive_id, ?4, state, 'cancelled', ?5, ?6 FROM deliveries WHERE directive_id = ?1"
                   " AND id > ?2 AND id <= ?3 AND state IN ('queued', 'retrying')");
      ev.bind(1, id).bind(2, after).bind(3, out.after).bind(4, now).bind(5, source).bind(6, detail);
      ev.run();
      Statement up(*db_,
                   "UPDATE deliveries SET state = 'cancelled', updated_at_ms = ?4, error_code = 'cancelled',"
                   " error_text = 'the directive was cancelled', sending_since_ms = NULL WHERE directive_id = ?1"
                   " AND id > ?2 AND id <= ?3 AND state IN ('queued', 'retrying')");
      up.bind(1, id).bind(2, after).bind(3, out.after).bind(4, now);
      up.run();
    }
  }
  if (out.cancelled < limit) {
    if (after > 0) {
      // The end reached from a cursor: once more from the start, for what became waiting
      // behind it meanwhile (a send in flight that will be retried).
      out.after = 0;
    } else {
      out.done = true;
      // Only what has not left can be held back; sends in flight finish as they will.
      Statement c(*db_, "SELECT COUNT(*) FROM deliveries WHERE directive_id = ?1 AND state IN ('sending', 'sent')");
      c.bind(1, id);
      c.step();
      out.in_flight = static_cast<size_t>(c.int64(0));
    }
  }
  tx.commit();
  return out;
}

std::vector<std::string> SqlStore::unfinished_cancels() {
  std::lock_guard lock(mu_);
  Statement q(*db_,
              "SELECT d.id FROM directives d WHERE d.cancelled_at_ms IS NOT NULL AND EXISTS (SELECT 1 FROM"
              " deliveries x WHERE x.directive_id = d.id AND x.state IN ('queued', 'retrying')) ORDER BY d.id");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

namespace {

std::string states_text(const std::vector<DeliveryState>& states) {
  std::string out;
  for (DeliveryState s : states) out += (out.empty() ? "" : ",") + std::string(to_string(s));
  return out;
}

std::vector<DeliveryState> states_of(const std::string& text) {
  std::vector<DeliveryState> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (auto s = parse_state(text.substr(start, comma - start))) out.push_back(*s);
    start = comma + 1;
  }
  return out;
}

bool state_wanted(const ReplayFilter& f, DeliveryState s) {
  return std::find(f.states.begin(), f.states.end(), s) != f.states.end();
}

// The deliveries a replay takes: failed or expired (as the filter says), of the directive
// itself (not its reminders), on the channel and for the recipient it names, if it does.
constexpr const char* kReplaySelect =
    "SELECT id, recipient_id, recipient_name, channel, state, address FROM deliveries"
    " WHERE directive_id = ?1 AND purpose = 'directive' AND state IN ('failed', 'expired') AND id > ?2"
    " AND (?3 = '' OR channel = ?3) AND (?4 = '' OR recipient_id = ?4) AND (?5 = 0 OR state = ?6)"
    " ORDER BY id LIMIT ?7";

void bind_replay(sql::Statement& q, const std::string& directive_id, const ReplayFilter& f, int64_t after,
                 size_t limit) {
  q.bind(1, directive_id).bind(2, after);
  q.bind(3, f.channel ? to_string(*f.channel) : std::string_view("")).bind(4, f.recipient_id);
  const bool one = f.states.size() == 1;
  q.bind(5, int64_t{one}).bind(6, one ? to_string(f.states.front()) : std::string_view(""));
  q.bind(7, limit == 0 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(limit));
}

ReplayItem replay_item(const sql::Statement& q, const OperatorStore::AddressOf& address_of) {
  ReplayItem it;
  it.delivery_id = q.int64(0);
  it.recipient_id = q.text(1);
  it.recipient_name = q.text(2);
  it.channel = parse_channel(q.text(3)).value_or(Channel::sms);
  it.state = parse_state(q.text(4)).value_or(DeliveryState::failed);
  it.old_address = q.text(5);
  it.address = address_of(it.recipient_id, it.channel);
  if (it.address.empty()) it.skipped = "no contact on this channel in the directory";
  return it;
}

}  // namespace

std::optional<ReplayJob> SqlStore::start_replay(const std::string& directive_id, const ReplayFilter& filter,
                                                const std::string& by, const std::string& reason, int64_t now,
                                                bool* cancelled) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  {
    Statement q(*db_, "SELECT cancelled_at_ms FROM directives WHERE id = ?1");
    q.bind(1, directive_id);
    if (!q.step()) return std::nullopt;
    if (!q.is_null(0)) {
      if (cancelled) *cancelled = true;
      return std::nullopt;
    }
  }
  ReplayJob job;
  job.directive_id = directive_id;
  job.filter = filter;
  job.by = by;
  job.reason = reason;
  Statement ins(*db_,
                "INSERT INTO replay_jobs(directive_id, states, channel, recipient_id, by_name, reason, cursor,"
                " replayed, skipped, done, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, 0, ?7) RETURNING id");
  ins.bind(1, directive_id).bind(2, states_text(filter.states));
  ins.bind(3, filter.channel ? to_string(*filter.channel) : std::string_view("")).bind(4, filter.recipient_id);
  ins.bind(5, by).bind(6, reason).bind(7, now);
  ins.step();
  job.id = ins.int64(0);
  ins.reset();
  tx.commit();
  return job;
}

std::vector<ReplayItem> SqlStore::replay_batch(ReplayJob& job, const AddressOf& address_of, size_t limit,
                                               int64_t now) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  std::vector<ReplayItem> out;
  {
    // A cancel since the job began (or another instance finishing it) ends it.
    Statement q(*db_, pg_ ? "SELECT j.done, d.cancelled_at_ms, j.cursor, j.replayed, j.skipped FROM replay_jobs j"
                            " JOIN directives d ON d.id = j.directive_id WHERE j.id = ?1 FOR UPDATE OF j"
                          : "SELECT j.done, d.cancelled_at_ms, j.cursor, j.replayed, j.skipped FROM replay_jobs j JOIN directives d"
                            " ON d.id = j.directive_id WHERE j.id = ?1");
    q.bind(1, job.id);
    if (!q.step() || q.int64(0) != 0 || !q.is_null(1)) {
      job.done = true;
      return out;
    }
    // The store's word on how far it got: a batch retried after a conflict, or another
    // instance's, may have moved it.
    job.cursor = q.int64(2);
    job.replayed = q.int64(3);
    job.skipped = q.int64(4);
  }
  size_t selected = 0;
  {
    Statement q(*db_, kReplaySelect);
    bind_replay(q, job.directive_id, job.filter, job.cursor, limit);
    while (q.step()) {
      ++selected;
      ReplayItem it = replay_item(q, address_of);
      job.cursor = it.delivery_id;
      if (state_wanted(job.filter, it.state)) out.push_back(std::move(it));
    }
  }
  const bool last = selected < limit;
  Statement up(*db_,
               "UPDATE deliveries SET state = 'queued', address = ?2, attempts = 0, next_attempt_ms = ?3,"
               " token = ?4, gateway = '', provider_ref = '', error_code = '', error_text = '',"
               " sent_at_ms = NULL, updated_at_ms = ?3 WHERE id = ?1 AND state IN ('failed', 'expired')");
  Statement ev(*db_, kEventInsert);
  for (const auto& it : out) {
    if (!it.skipped.empty()) {
      ++job.skipped;
      continue;
    }
    up.bind(1, it.delivery_id).bind(2, it.address).bind(3, now).bind(4, random_token());
    up.run();
    ++job.replayed;
    std::string detail = "replay" + (job.reason.empty() ? std::string() : ": " + job.reason);
    if (it.address != it.old_address) detail += "; address " + it.old_address + " -> " + it.address;
    ev.bind(1, it.delivery_id).bind(2, job.directive_id).bind(3, now).bind(4, to_string(it.state));
    ev.bind(5, "queued").bind(6, "operator:" + job.by).bind(7, detail);
    ev.run();
  }
  job.done = last;
  Statement j(*db_, "UPDATE replay_jobs SET cursor = ?2, replayed = ?3, skipped = ?4, done = ?5 WHERE id = ?1");
  j.bind(1, job.id).bind(2, job.cursor).bind(3, job.replayed).bind(4, job.skipped).bind(5, int64_t{job.done});
  j.run();
  tx.commit();
  return out;
}

std::vector<ReplayJob> SqlStore::unfinished_replays() {
  std::lock_guard lock(mu_);
  Statement q(*db_,
              "SELECT id, directive_id, states, channel, recipient_id, by_name, reason, cursor, replayed, skipped"
              " FROM replay_jobs WHERE done = 0 ORDER BY id");
  std::vector<ReplayJob> out;
  while (q.step()) {
    ReplayJob j;
    j.id = q.int64(0);
    j.directive_id = q.text(1);
    j.filter.states = states_of(q.text(2));
    if (!q.text(3).empty()) j.filter.channel = parse_channel(q.text(3));
    j.filter.recipient_id = q.text(4);
    j.by = q.text(5);
    j.reason = q.text(6);
    j.cursor = q.int64(7);
    j.replayed = q.int64(8);
    j.skipped = q.int64(9);
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<ReplayItem> SqlStore::replay_preview(const std::string& directive_id, const ReplayFilter& filter,
                                                 const AddressOf& address_of, size_t limit, size_t* total) {
  std::lock_guard lock(rmu_);
  std::vector<ReplayItem> out;
  size_t n = 0;
  Statement q(*rdb_, kReplaySelect);
  bind_replay(q, directive_id, filter, 0, 0);
  while (q.step()) {
    if (!state_wanted(filter, parse_state(q.text(4)).value_or(DeliveryState::failed))) continue;
    ++n;
    if (limit == 0 || out.size() < limit) out.push_back(replay_item(q, address_of));
  }
  if (total) *total = n;
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
