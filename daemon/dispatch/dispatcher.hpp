#pragma once
// The dispatcher: on the Asio loop, claims due deliveries from the store (higher urgency
// first), sends each through its channel's gateway within that gateway's rate limit,
// concurrency cap and circuit breaker, and records what happened. Retry policy lives
// here alone: capped exponential backoff with full jitter, up to max_attempts or the
// directive's deadline.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "dispatch/limits.hpp"
#include "gateway.hpp"
#include "loudspeaker/announcer.hpp"
#include "net/curl_multi.hpp"
#include "store/store.hpp"

namespace herald {

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, Store& store, net::CurlMulti& curl, const Config& cfg,
             Metrics& metrics);

  /// The secret ack links are signed with (kept in the store; the HTTP layer checks them).
  void set_ack_secret(std::string secret) { ack_secret_ = std::move(secret); }

  /// What loudspeaker deliveries read aloud; without it they fail (no announcement).
  void set_announcer(loudspeaker::Announcer* a, std::function<std::shared_ptr<const Directory>()> directory);

  /// Resolves sends left in flight by a previous run (rule in docs/dispatch.md), then
  /// starts pumping.
  void start();
  void stop();
  /// New work may be due (intake committed a directive). Safe from any thread.
  void kick();

  /// Prometheus lines about each gateway (breaker state, in flight).
  std::string metrics_text() const;

  /// Backoff before attempt `attempt + 1`: uniform in [0, min(max, initial * 2^(attempt-1))].
  static int64_t backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, std::mt19937_64& rng);
  static int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms);

 private:
  struct Lane {
    Channel channel;
    std::shared_ptr<Gateway> gateway;
    TokenBucket bucket;
    CircuitBreaker breaker;
    int in_flight = 0;
    bool refreshing = false;  // credentials being renewed: no sends meanwhile
    uint64_t credentials = 0;  // how many refreshes succeeded: which credentials a send used
  };

  void pump();
  void request_pump();
  void arm_timer(int64_t delay_ms);
  void send(Lane& lane, const ClaimedDelivery& c);
  /// The request itself, once the message is complete (a loudspeaker job's audio ready).
  void transmit(Lane& lane, const ClaimedDelivery& c, const OutboundMessage& m);
  /// `credentials_current`: the send used the lane's current credentials (a token_expired
  /// answer to a send made before the last refresh must not refresh again).
  void finish(Lane& lane, const ClaimedDelivery& c, const SendResult& r, bool credentials_current = true);
  /// Renews the gateway's credentials once, however many sends reported them expired.
  void refresh(Lane& lane);
  std::shared_ptr<const Directive> directive(const std::string& id);
  std::string receipt_url(const Lane& lane, const std::string& token) const;

  boost::asio::io_context& io_;
  Store& store_;
  net::CurlMulti& curl_;
  const Config& cfg_;
  Metrics& metrics_;
  boost::asio::steady_timer timer_;
  std::list<Lane> lanes_;  // stable addresses: completions hold a Lane&
  std::unordered_map<std::string, std::shared_ptr<const Directive>> directives_;
  std::mt19937_64 rng_;
  loudspeaker::Announcer* announcer_ = nullptr;
  std::string ack_secret_;
  std::function<std::shared_ptr<const Directory>()> directory_;
  bool pump_posted_ = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace herald
