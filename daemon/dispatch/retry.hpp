#pragma once
// What a send's answer comes to: the rules, as one pure function over plain values, tested
// from a table (tests/unit/testdata/retry.tsv). Accepted: sent. Refused for good: failed.
// Otherwise tried again after a capped exponential backoff with full jitter, until the
// attempts run out (failed) or the next try would fall after the directive's
// acknowledgement deadline (expired; an escalation is sent after it by design). A 429
// pauses the whole gateway for the provider's Retry-After (at most backoff_max); expired
// credentials are renewed before the next send, which then goes at once.
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "adapters/send_error.hpp"
#include "core/channel.hpp"

namespace herald::retry {

/// dispatch.max_attempts, dispatch.backoff_initial and dispatch.backoff_max.
struct Policy {
  int max_attempts = 8;
  int64_t backoff_initial_ms = 2000;
  int64_t backoff_max_ms = 300000;
};

/// One send's answer, and what else decides what follows it.
struct Attempt {
  SendError error;             // the gateway's answer on the shared error set (none: accepted)
  int64_t retry_after_ms = 0;  // the provider's hint, when it throttled
  int attempts = 1;            // including this one
  int64_t now_ms = 0;
  std::optional<int64_t> deadline_ms;  // the directive's acknowledgement deadline
  bool escalation = false;
};

struct Decision {
  DeliveryState state = DeliveryState::sent;  // sent, retrying, failed or expired
  int64_t due_ms = 0;       // retrying: when it is due again
  std::string detail;       // what the event says
  int64_t delay_ms = 0;     // retrying: due_ms - now_ms
  /// The provider said 429: no sends through the gateway before this (0: no pause).
  int64_t throttle_until_ms = 0;
  /// The credentials expired: renew them before the gateway sends again.
  bool refresh_credentials = false;
};

/// The most the backoff before attempt `attempt + 1` can be: min(max, initial * 2^(attempt-1)).
int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms);
/// That backoff: uniform in [0, ceiling] (full jitter).
int64_t backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, std::mt19937_64& rng);

/// What follows `a` under `p`. `jitter(ceiling)` draws the backoff in [0, ceiling] (the
/// dispatcher: backoff_ms's uniform draw; the table: a fixed share of the ceiling).
Decision decide(const Attempt& a, const Policy& p, const std::function<int64_t(int64_t ceiling)>& jitter);

}  // namespace herald::retry
