#pragma once
// One gateway's sending, as the dispatcher keeps it: its rate (with several instances,
// its share of the rate they have together), its circuit breaker, its concurrency cap, a
// pause the provider asked for, its rotating credentials, and the deliveries claimed ahead
// of sending.
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "adapters/gateway.hpp"
#include "dispatch/credentials.hpp"
#include "dispatch/limits.hpp"
#include "store/lease.hpp"
#include "store/rows.hpp"

namespace herald {

struct Lane {
  /// `lease`: a store several instances share, whose rate limits are theirs together.
  Lane(Channel c, std::shared_ptr<Gateway> g, Credentials cr, Lease* lease);

  Channel channel;
  std::shared_ptr<Gateway> gateway;
  TokenBucket bucket;
  CircuitBreaker breaker;
  Credentials credentials;
  std::optional<SharedRate> shared_rate;
  int in_flight = 0;
  int unconfirmed = 0;    // accepted by the gateway, the outcome not yet committed
  bool claiming = false;  // a claim is with the store writer: no second one meanwhile
  // Claimed (committed as `sending`) and not sent yet: claims run ahead of sending so that
  // a send never waits for a commit. At most prefetch() of them.
  std::deque<ClaimedDelivery> ready;
  int64_t drained_until_ms = 0;  // the last claim found nothing more due before this
  int stranded_claims = 0;       // claims in a row that left due work they could not take
  // The provider said 429 (with Retry-After, or for backoff_initial without): the whole
  // gateway gets no sends before this, not just the throttled delivery.
  int64_t throttled_until_ms = 0;

  /// How many of the claimed deliveries may be sent now, as far as the breaker, the
  /// concurrency cap, the provider's pause and the rate allow; `wake` is lowered to when
  /// that may change. Asks for more of a shared rate when it runs low (`granted` runs on
  /// the loop with the answer).
  int64_t allowance(int64_t now, int64_t& wake, const std::function<void()>& granted);
  /// One claimed delivery is being sent: it takes its share of the rate.
  void sending_one();
  /// A send failed with `e`: the breaker counts it when the gateway is to blame, and a
  /// provider's 429 pauses the whole gateway until `throttle_until_ms` (0: no pause).
  void failed(const SendError& e, int64_t throttle_until_ms, int64_t now_ms);
  /// Sends in flight or accepted and not yet committed, at most: what a crash would send
  /// twice stays within twice the concurrency (docs/dispatch.md's bound).
  int unconfirmed_cap() const { return 2 * gateway->limits().concurrency; }
  /// How many deliveries to keep claimed ahead: enough to cover a commit's latency at full
  /// speed, few enough that newly due urgent work is not queued behind much; at most `batch`.
  size_t prefetch(int64_t batch) const;
};

/// The Prometheus lines about the lanes: breaker state, sends in flight, throttled.
std::string lanes_metrics_text(const std::list<Lane>& lanes, int64_t now_ms);

}  // namespace herald
