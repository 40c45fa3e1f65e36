// Several instances on one PostgreSQL store: each one's lease, taking over the claims of
// one whose lease ran out, and the gateways' rate limits shared by all (on the server's
// clock, so that the instances' clocks need not agree).
#include <unistd.h>

#include "store/sql_store.hpp"

namespace herald {

std::string SqlStore::host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

void SqlStore::renew_lease(int64_t now) {
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

size_t SqlStore::take_over(int64_t now, int64_t grace_ms) {
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

int64_t SqlStore::take_rate_tokens(const std::string& gateway, int64_t want, double rate, double burst) {
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

}  // namespace herald
