#include "dispatch/retry.hpp"

#include <algorithm>

namespace herald::retry {

int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms) {
  const int shift = std::clamp(attempt - 1, 0, 30);
  return std::min<int64_t>(max_ms, initial_ms << shift);
}

int64_t backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, std::mt19937_64& rng) {
  const int64_t ceiling = backoff_ceiling_ms(attempt, initial_ms, max_ms);
  if (ceiling <= 0) return 0;
  return std::uniform_int_distribution<int64_t>(0, ceiling)(rng);
}

Decision decide(const Attempt& a, const Policy& p, const std::function<int64_t(int64_t)>& jitter) {
  Decision d;
  if (a.error.ok()) {
    d.detail = "accepted";
    return d;
  }
  const std::string what(to_string(a.error.kind));
  if (!a.error.retryable()) {
    d.state = DeliveryState::failed;
    d.detail = what;
    return d;
  }
  if (a.attempts >= p.max_attempts) {
    d.state = DeliveryState::failed;
    d.detail = "gave up after " + std::to_string(a.attempts) + " attempts";
    return d;
  }
  const int64_t ceiling = backoff_ceiling_ms(a.attempts, p.backoff_initial_ms, p.backoff_max_ms);
  int64_t delay = ceiling <= 0 ? 0 : std::clamp<int64_t>(jitter(ceiling), 0, ceiling);
  if (a.error.kind == SendErrorKind::throttled) {
    // A provider's hint is honoured up to backoff_max: an hour-long Retry-After is an outage.
    const int64_t hint = std::min(a.retry_after_ms, p.backoff_max_ms);
    delay = std::max(delay, hint);
    // A 429 is about the sender, not this message: the gateway as a whole waits.
    d.throttle_until_ms = a.now_ms + (hint > 0 ? hint : p.backoff_initial_ms);
  }
  if (a.error.kind == SendErrorKind::token_expired) {
    delay = 0;  // due at once; the gateway waits for the refresh before it sends again
    d.refresh_credentials = true;
  }
  if (a.deadline_ms && !a.escalation && a.now_ms + delay > *a.deadline_ms) {
    d.state = DeliveryState::expired;
    d.detail = "deadline passed before a retry could succeed";
    return d;
  }
  d.state = DeliveryState::retrying;
  d.delay_ms = delay;
  d.due_ms = a.now_ms + delay;
  d.detail = what + ", retry in " + std::to_string(delay) + " ms (backoff ceiling " + std::to_string(ceiling) + " ms)";
  return d;
}

}  // namespace herald::retry
