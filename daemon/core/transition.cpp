#include "core/transition.hpp"

namespace herald {

int progress_rank(DeliveryState s) {
  switch (s) {
    case DeliveryState::queued:
    case DeliveryState::retrying: return 0;
    case DeliveryState::sending: return 1;
    case DeliveryState::sent: return 2;
    case DeliveryState::delivered: return 3;
    case DeliveryState::read: return 4;
    case DeliveryState::acknowledged: return 5;
    default: return -1;  // failed, expired, cancelled: off the progress line
  }
}

bool is_final(DeliveryState s) {
  return s == DeliveryState::delivered || s == DeliveryState::read ||
         s == DeliveryState::acknowledged || s == DeliveryState::failed ||
         s == DeliveryState::expired || s == DeliveryState::cancelled;
}

bool transition_allowed(DeliveryState from, DeliveryState to, Cause cause) {
  using S = DeliveryState;
  const bool waiting = from == S::queued || from == S::retrying;
  switch (cause) {
    case Cause::send_started: return waiting && to == S::sending;
    case Cause::gateway_accepted: return from == S::sending && to == S::sent;
    case Cause::gateway_retry: return from == S::sending && to == S::retrying;
    case Cause::gateway_failed:
      return from == S::sending && (to == S::failed || to == S::expired);
    case Cause::recovery: return from == S::sending && to == S::retrying;
    case Cause::expiry: return waiting && to == S::expired;
    case Cause::operator_cancel: return waiting && to == S::cancelled;
    case Cause::operator_replay: return (from == S::failed || from == S::expired) && to == S::queued;
    case Cause::receipt_timeout: return (from == S::sending || from == S::sent) && to == S::expired;
    case Cause::receipt:
      if (from == S::cancelled) return false;
      if (progress_rank(to) > 0) {
        // Forward on the progress line, or a success after a failure receipt.
        if (from == S::failed || from == S::expired) return true;
        return progress_rank(to) > progress_rank(from);
      }
      // A failure receipt only ends a send that has not been confirmed further.
      return (to == S::failed || to == S::expired) && (from == S::sending || from == S::sent);
  }
  return false;
}

}  // namespace herald
