#pragma once
// Receipts in. Whatever way a provider reports on a delivery (a callback per delivery, an
// event on its shared webhook, a loudspeaker controller's playback report), its adapter
// reads it as a Receipt (adapters/gateway.hpp) and it is applied here, one way for all:
// the delivery found by its token or by the provider's id, among the gateways that may
// report on it; the state moved only forward (core/transition.hpp); every report that
// moves it an event in the audit trail, scrubbed of secrets, and one that moves nothing
// no row at all (a caller posting in a loop cannot fill the disk); a report the provider
// may post again applied once. In heraldd every write goes through the store writer, off the event loop.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adapters/gateway.hpp"
#include "store/store.hpp"

namespace herald {

class StoreWriter;

namespace receipts {

struct Outcome {
  enum class Kind {
    unknown,    // no delivery of those gateways has that token or provider id
    duplicate,  // applied before under its `once` key: nothing written
    applied,    // the delivery moved
    unchanged,  // nothing written: the state stays (never backwards)
  } kind = Kind::unknown;
  int64_t delivery_id = 0;
  DeliveryState state = DeliveryState::queued;  // after
};

/// Applies `r` to the delivery it names, if that delivery was sent through one of
/// `gateways`. Runs in the caller's transaction (the writer's batch).
Outcome apply(ReceiptStore& store, const Receipt& r, const std::vector<std::string>& gateways);

/// True when a delivery with receipt token `token` was sent through `gateway` (a malformed
/// callback for it is a bad request; for anything else, an unknown address).
bool known(ReceiptStore& store, const std::string& token, const std::string& gateway);

/// Applies receipts off the event loop: through the store writer, each request's receipts
/// together; on a store several instances share, in a transaction of their own, since a
/// delivery another instance sent may be held by its batch (StoreWriter::submit_alone).
/// Without a writer (unit tests) they are applied at once.
class Applier {
 public:
  Applier(Store& store, StoreWriter* writer) : store_(store), writer_(writer) {}

  using Done = std::function<void(std::vector<Outcome>&& outcomes, const std::string& error)>;
  /// `done` runs on the event loop once they are committed (or at once, without a writer);
  /// `error` is set, and nothing kept, when the store refused them.
  void apply(std::vector<Receipt> receipts, std::vector<std::string> gateways, Done done);
  void known(std::string token, std::string gateway, std::function<void(bool known, const std::string& error)> done);

 private:
  Store& store_;
  StoreWriter* writer_;
};

}  // namespace receipts
}  // namespace herald
