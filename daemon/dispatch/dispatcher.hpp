#pragma once
// The dispatcher: on the Asio loop, claims due deliveries from the store (higher urgency
// first), sends each through its channel's gateway within that gateway's rate limit,
// concurrency cap and circuit breaker, and records what happened. Retry policy lives
// here alone: capped exponential backoff with full jitter, up to max_attempts or the
// directive's deadline. Claims and outcomes go through the StoreWriter: the loop never
// waits for the disk, and outcomes that finish together commit together.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "dispatch/limits.hpp"
#include "gateway.hpp"
#include "loudspeaker/announcer.hpp"
#include "net/curl_multi.hpp"
#include "render/sms_render.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald {

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, Store& store, StoreWriter& writer, net::CurlMulti& curl,
             const Config& cfg, Metrics& metrics);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// The secret ack links are signed with (kept in the store; the HTTP layer checks them).
  void set_ack_secret(std::string secret) { ack_secret_ = std::move(secret); }

  /// What loudspeaker deliveries read aloud; without it they fail (no announcement).
  void set_announcer(loudspeaker::Announcer* a, std::function<std::shared_ptr<const Directory>()> directory);

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

  /// Prometheus lines about each gateway (breaker state, in flight).
  std::string metrics_text() const;

  /// Backoff before attempt `attempt + 1`: uniform in [0, min(max, initial * 2^(attempt-1))].
  static int64_t backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, std::mt19937_64& rng);
  static int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms);

 private:
  struct Lane {
    Lane(Channel c, std::shared_ptr<Gateway> g, TokenBucket b, CircuitBreaker br)
        : channel(c), gateway(std::move(g)), bucket(b), breaker(br) {}
    Channel channel;
    std::shared_ptr<Gateway> gateway;
    TokenBucket bucket;
    CircuitBreaker breaker;
    int in_flight = 0;
    int unconfirmed = 0;  // accepted by the gateway, the outcome not yet committed
    bool refreshing = false;  // credentials being renewed: no sends meanwhile
    bool claiming = false;    // a claim is with the store writer: no second one meanwhile
    // Claimed (committed as `sending`) and not sent yet: claims run ahead of sending so
    // that a send never waits for a commit. At most prefetch() of them.
    std::deque<ClaimedDelivery> ready;
    int64_t drained_until_ms = 0;  // the last claim found nothing more due before this
    // The provider said 429 (with Retry-After, or for backoff_initial without): the whole
    // gateway gets no sends before this, not just the throttled delivery.
    int64_t throttled_until_ms = 0;
    // The SMS text of the directive sent last (the same for all its recipients).
    std::shared_ptr<const Directive> sms_for;
    std::string sms_text;
    decltype(RenderedSms{}.size.coding) sms_coding{};
    uint64_t credentials = 0;  // how many refreshes succeeded: which credentials a send used
    std::map<std::string, std::string> credentials_seen;  // what the store held when last read or written
    // A shared store: sends of the gateway's rate granted to this instance (the store's
    // bucket is shared by every instance), and the next time to ask when it had none.
    int64_t shared_tokens = 0;
    bool asking_tokens = false;
    int64_t ask_tokens_at_ms = 0;
  };

  /// What one claim brought back from the store writer.
  struct Claim {
    std::vector<ClaimedDelivery> deliveries;
    std::optional<int64_t> next_due_ms;  // when fewer were due than asked for
  };

  void pump();
  void claim(Lane& lane, size_t want, int64_t now);
  void claimed(Lane& lane, size_t want, Claim&& c);
  /// How many deliveries a lane keeps claimed ahead: enough to cover a commit's latency
  /// at full speed, few enough that newly due urgent work is not queued behind much.
  size_t prefetch(const Lane& lane) const;
  void request_pump();
  /// Pumps again in `delay_ms` at the latest (an earlier wake-up stands).
  void arm_timer(int64_t delay_ms);
  /// Records an outcome through the writer (its commit is batched with others'). When the
  /// store refuses, the outcome is kept and written again later (`tries` so far).
  /// `accepted_by`: the lane whose gateway accepted this send (its `unconfirmed` count
  /// drops once the outcome is committed).
  void record(int64_t delivery_id, TransitionRequest t, int tries = 0, Lane* accepted_by = nullptr);
  /// How many sends a lane may have in flight or accepted and not yet committed.
  static int unconfirmed_cap(const Lane& lane);
  void send(Lane& lane, const ClaimedDelivery& c);
  /// The request itself, once the message is complete (a loudspeaker job's audio ready).
  void transmit(Lane& lane, const ClaimedDelivery& c, const OutboundMessage& m);
  /// `credentials_current`: the send used the lane's current credentials (a token_expired
  /// answer to a send made before the last refresh must not refresh again).
  void finish(Lane& lane, const ClaimedDelivery& c, const SendResult& r, bool credentials_current = true);
  /// Renews the gateway's credentials once, however many sends reported them expired
  /// (with a shared store, unless another instance already has).
  void refresh(Lane& lane);
  void send_refresh(Lane& lane);
  void release_unsent(std::vector<int64_t> ids);
  void maybe_drained();
  /// After a refresh's answer and its persisted credentials are in (on the loop).
  void refreshed(Lane& lane, bool ok, long status, const std::string& store_error);
  /// The parsed directive, cached; safe from the writer thread too (claims warm the cache
  /// there, so the loop rarely reads the store for it).
  std::shared_ptr<const Directive> directive(const std::string& id);
  std::shared_ptr<const Directive> directive(Store& store, const std::string& id);
  std::string receipt_url(const Lane& lane, const std::string& token) const;
  /// A shared store: renews this instance's lease, takes over the claims of instances whose
  /// lease ran out, and comes back in a third of the lease. On the control thread, so that
  /// nothing the loop waits for can let the lease run out.
  void lease_tick();
  /// True while this instance may send: its lease was renewed within half the lease, so
  /// no other instance can have taken its claims over.
  bool lease_held() const;
  /// Milliseconds on the monotonic clock (the lease must not follow the wall clock's steps).
  static int64_t steady_ms();
  /// Asks the store for more of a rate-limited gateway's shared sends (off the loop).
  void ask_tokens(Lane& lane, int64_t now);

  boost::asio::io_context& io_;
  Store& store_;
  StoreWriter& writer_;
  net::CurlMulti& curl_;
  const Config& cfg_;
  Metrics& metrics_;
  boost::asio::steady_timer timer_;
  std::list<Lane> lanes_;  // stable addresses: completions hold a Lane&
  std::mutex directives_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Directive>> directives_;
  bool timer_armed_ = false;
  int64_t timer_at_ms_ = 0;
  bool expiring_ = false;             // an expire_unconfirmed pass is with the writer
  int64_t next_expiry_check_ms_ = 0;
  std::mt19937_64 rng_;
  loudspeaker::Announcer* announcer_ = nullptr;
  std::string ack_secret_;
  std::function<std::shared_ptr<const Directory>()> directory_;
  bool pump_posted_ = false;
  std::function<void()> drained_;  // set while stopping: what to run once nothing is in flight
  std::atomic<bool> stopping_{false};
  int64_t unrecorded_ = 0;            // outcomes the store refused, waiting to be written again
  int64_t unrecorded_logged_ms_ = 0;  // one log line per second while the store refuses
  // A shared store: the lease and the shared rate limits, on a thread of their own so that
  // they never wait behind the loop or the writer.
  std::unique_ptr<boost::asio::thread_pool> control_;
  std::unique_ptr<boost::asio::steady_timer> lease_timer_;  // on control_: the loop may be busy
  std::atomic<int64_t> lease_renewed_ms_{0};  // when the last renewal that succeeded was asked for (steady_ms)
  // Claimed ahead when the lease ran out: perhaps another instance's now, so never sent
  // from here; given back (if still this instance's) once the lease is renewed.
  std::vector<int64_t> orphaned_;
  bool lease_lost_logged_ = false;
  std::atomic<bool> taking_over_{false};
};

}  // namespace herald
