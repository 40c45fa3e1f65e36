#pragma once
// The dispatcher, the sending loop: on the Asio loop, claims due deliveries from the store
// (higher urgency first), has each composed (dispatch/compose.hpp) and sent through its
// channel's gateway within that gateway's rate limit, concurrency cap and circuit breaker,
// and records what each send came to (dispatch/retry.hpp decides). Claims and outcomes go
// through the StoreWriter: the loop never waits for the disk, and outcomes that finish
// together commit together. On a store several instances share, sends stop while this
// instance's lease is not held, and rate limits are shared (store/lease.hpp).
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "adapters/gateway.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "dispatch/compose.hpp"
#include "dispatch/lane.hpp"
#include "dispatch/outcomes.hpp"
#include "net/curl_multi.hpp"
#include "store/lease.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald {

class Dispatcher {
 public:
  /// Sends through `gateways` (each channel's, as `cfg` names it).
  Dispatcher(boost::asio::io_context& io, Store& store, StoreWriter& writer, net::CurlMulti& curl,
             const Config& cfg, const Gateways& gateways, Metrics& metrics);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// What recipients receive: the ack links' secret, the loudspeakers' announcer.
  Composer& composer() { return composer_; }

  /// Resolves sends left in flight by a previous run (rule in docs/dispatch.md), then
  /// starts pumping.
  void start();
  /// Sends nothing more; deliveries claimed ahead and not sent go back to `retrying`.
  void stop();
  /// After stop(): runs `done` once every send in flight has been answered and its outcome
  /// handed to the store writer, or after `timeout_ms` (what is still unanswered is then
  /// left to the restart rule). A clean stop thereby sends nothing twice.
  void drain(std::function<void()> done, int64_t timeout_ms);
  /// Sends awaiting a gateway's answer (or their audio), all gateways.
  int in_flight() const;
  /// New work may be due (intake committed a directive). Safe from any thread.
  void kick();

  /// Prometheus lines about each gateway (breaker state, in flight, throttled) and the lease.
  std::string metrics_text() const;

 private:
  /// What one claim brought back from the store writer.
  struct Claim {
    std::vector<ClaimedDelivery> deliveries;
    std::optional<int64_t> next_due_ms;  // when fewer were due than asked for
  };

  void pump();
  void claim(Lane& lane, size_t want, int64_t now);
  void claimed(Lane& lane, size_t want, int64_t claimed_at, Claim&& c);
  void request_pump();
  /// Pumps again in `delay_ms` at the latest (an earlier wake-up stands).
  void arm_timer(int64_t delay_ms);
  /// Records an outcome (dispatch/outcomes.hpp). `accepted_by`: the lane whose gateway
  /// accepted this send (its `unconfirmed` count drops once the outcome is committed).
  void record(int64_t delivery_id, TransitionRequest t, Lane* accepted_by = nullptr);
  /// While this instance's lease is not held, its claims may be another instance's: none
  /// is sent, and once the lease has run out they are dropped (orphaned_).
  bool lease_allows(Lane& lane, int64_t& wake);
  void send(Lane& lane, const ClaimedDelivery& c);
  /// Sends a composed delivery, or records why it cannot go.
  void deliver(Lane& lane, const ClaimedDelivery& c, Composition&& m);
  void transmit(Lane& lane, const ClaimedDelivery& c, const OutboundMessage& m);
  /// `credentials_current`: the send used the lane's current credentials (a token_expired
  /// answer to a send made before the last refresh must not refresh again).
  void finish(Lane& lane, const ClaimedDelivery& c, const SendResult& r, bool credentials_current = true);
  void release_unsent(std::vector<int64_t> ids);
  void maybe_drained();
  /// The lease was renewed (on the loop): claims dropped while it was not go back.
  void lease_renewed();

  boost::asio::io_context& io_;
  Store& store_;
  StoreWriter& writer_;
  net::CurlMulti& curl_;
  const Config& cfg_;
  Metrics& metrics_;
  Composer composer_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  int64_t timer_at_ms_ = 0;
  std::mt19937_64 rng_;
  bool pump_posted_ = false;
  std::function<void()> drained_;  // set while stopping: what to run once nothing is in flight
  std::atomic<bool> stopping_{false};
  Outcomes outcomes_;
  std::list<Lane> lanes_;  // stable addresses: completions hold a Lane&
  // A shared store: this instance's lease. Declared after the lanes, whose shared rates
  // are asked for on its thread: destroyed first, it ends that thread before they go.
  std::unique_ptr<Lease> lease_;
  // Claimed ahead when the lease ran out: perhaps another instance's now, so never sent
  // from here; given back (if still this instance's) once the lease is renewed.
  std::vector<int64_t> orphaned_;
  bool lease_lost_logged_ = false;
};

}  // namespace herald
