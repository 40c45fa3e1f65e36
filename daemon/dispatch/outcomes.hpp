#pragma once
// What sends came to, written through the store writer (outcomes that finish together
// commit together), and sends whose receipt never came within their fallback chain's wait
// failed over to the chain's next channel. A send's outcome is a fact that cannot be asked again: when the store
// refuses it (disk full, locked past busy_timeout), it is kept in memory and written again,
// after 250 ms doubling to 10 s, until the store takes it. Until then the delivery shows
// `sending`; only if heraldd stops first does the restart rule settle it (a receipt, or a
// resend after the grace).
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>

#include "core/metrics.hpp"
#include "store/writer.hpp"

namespace herald {

class Outcomes {
 public:
  Outcomes(boost::asio::io_context& io, StoreWriter& writer, Metrics& metrics)
      : io_(io), writer_(writer), metrics_(metrics) {}

  using Committed = std::function<void(const TransitionResult&)>;
  /// Records `t` for `delivery_id`; `committed` runs on the event loop once it is in the store.
  void record(int64_t delivery_id, TransitionRequest t, Committed committed);
  /// Deliveries sent but unconfirmed past their fallback chain's wait become `expired`, and
  /// the chain's next channel is queued (`expired` runs on the loop when any did). Looked
  /// for at most every `every_ms` (and never twice at once), however often this is called.
  void expire_unconfirmed(int64_t now_ms, int64_t every_ms, std::function<void()> expired);

 private:
  void write(int64_t delivery_id, std::shared_ptr<const TransitionRequest> t, std::shared_ptr<Committed> committed,
             int tries);

  boost::asio::io_context& io_;
  StoreWriter& writer_;
  Metrics& metrics_;
  int64_t waiting_ = 0;     // outcomes the store refused, waiting to be written again
  int64_t logged_ms_ = 0;   // one log line per second while the store refuses
  bool expiring_ = false;   // an expire_unconfirmed pass is with the writer
  int64_t next_expiry_ms_ = 0;
};

}  // namespace herald
