#pragma once
// Which delivery state changes are allowed, and why. A state never moves backwards: a
// late "sent" after "delivered" changes nothing; a success receipt may overturn an
// earlier failure receipt (another segment got through), never the other way round.
#include "core/channel.hpp"

namespace herald {

enum class Cause {
  send_started,      // dispatcher claimed it and is about to send
  gateway_accepted,  // the provider took it (HTTP answer)
  gateway_retry,     // transient failure: try again later
  gateway_failed,    // permanent failure, attempts or deadline exhausted
  receipt,           // DLR / webhook from the provider
  recovery,          // restart found it in flight
  expiry,            // its deadline passed before it could be sent
  receipt_timeout,   // sent, but no receipt came within the fallback chain's wait
  operator_cancel,   // the directive was cancelled before this delivery left
  operator_replay,   // an operator sends a failed or expired delivery again
};

bool transition_allowed(DeliveryState from, DeliveryState to, Cause cause);

/// Progress order: queued/retrying < sending < sent < delivered < read < acknowledged.
int progress_rank(DeliveryState s);

bool is_final(DeliveryState s);

}  // namespace herald
