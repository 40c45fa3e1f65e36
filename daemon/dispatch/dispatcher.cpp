#include "dispatch/dispatcher.hpp"

#include <boost/asio/post.hpp>

#include "core/log.hpp"
#include "core/time.hpp"
#include "acks/ack_link.hpp"
#include "render/followup.hpp"
#include "render/sms_render.hpp"

namespace herald {

namespace asio = boost::asio;

Dispatcher::Dispatcher(asio::io_context& io, Store& store, net::CurlMulti& curl, const Config& cfg,
                       Metrics& metrics)
    : io_(io), store_(store), curl_(curl), cfg_(cfg), metrics_(metrics), timer_(io),
      rng_(std::random_device{}()) {
  for (const auto& [channel, cc] : cfg_.channels) {
    if (!cc.enabled || cc.gateway.empty()) continue;
    auto it = cfg_.gateways.find(cc.gateway);
    if (it == cfg_.gateways.end()) continue;  // config validation refuses this
    const GatewayLimits& l = it->second->limits();
    lanes_.push_back(Lane{channel, it->second, TokenBucket(l.rate_per_s, l.rate_per_s),
                          CircuitBreaker(l.breaker_failures, l.breaker_cooldown_ms), 0});
  }
}

void Dispatcher::set_announcer(loudspeaker::Announcer* a,
                               std::function<std::shared_ptr<const Directory>()> directory) {
  announcer_ = a;
  directory_ = std::move(directory);
}

void Dispatcher::start() {
  size_t n = store_.recover_in_flight(now_ms(), cfg_.dispatch.resume_grace_ms);
  if (n)
    log::warning(n, " deliveries were in flight when heraldd last stopped; they are resent after ",
                 cfg_.dispatch.resume_grace_ms, " ms unless their receipts arrive first");
  for (auto& lane : lanes_) {
    lane.gateway->restore(store_.gateway_state(lane.gateway->name()));
    log::info("dispatching ", to_string(lane.channel), " through gateway ", lane.gateway->name());
  }
  request_pump();
}

void Dispatcher::stop() {
  stopping_ = true;
  timer_.cancel();
}

void Dispatcher::kick() {
  asio::post(io_, [this] { request_pump(); });
}

void Dispatcher::request_pump() {
  if (pump_posted_ || stopping_) return;
  pump_posted_ = true;
  asio::post(io_, [this] {
    pump_posted_ = false;
    pump();
  });
}

void Dispatcher::arm_timer(int64_t delay_ms) {
  timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(delay_ms, 1)));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) pump();
  });
}

void Dispatcher::pump() {
  if (stopping_) return;
  const int64_t now = now_ms();
  int64_t wake = cfg_.dispatch.poll_interval_ms;
  try {
    // Sent but unconfirmed past their chain's wait: fail over to the next channel.
    if (size_t n = store_.expire_unconfirmed(now)) {
      log::info(n, " deliveries got no receipt in time; trying their next channel");
      wake = 0;
    }
  } catch (const StoreError& e) {
    ++metrics_.store_errors;
    log::error("dispatcher: store: ", e.what());
  }
  for (Lane& lane : lanes_) {
    const GatewayLimits& l = lane.gateway->limits();
    if (lane.refreshing) continue;  // the refresh's completion pumps again
    int64_t allowance = lane.breaker.allowance(now, lane.in_flight, l.concurrency);
    if (allowance > 0 && !lane.bucket.unlimited())
      allowance = std::min(allowance, lane.bucket.available(now));
    if (allowance <= 0) {
      if (lane.breaker.state() == CircuitBreaker::State::open)
        wake = std::min(wake, lane.breaker.reopens_at_ms() - now);
      else if (!lane.bucket.unlimited() && lane.in_flight < l.concurrency)
        wake = std::min(wake, lane.bucket.wait_ms(now));
      continue;  // completions pump again when in-flight sends end
    }
    const size_t want = static_cast<size_t>(std::min<int64_t>(allowance, cfg_.dispatch.batch));
    std::vector<ClaimedDelivery> claimed;
    try {
      claimed = store_.claim_due(lane.channel, lane.gateway->name(), now, want);
      if (claimed.size() < want)
        if (auto due = store_.next_due_ms(lane.channel)) wake = std::min(wake, *due - now);
    } catch (const StoreError& e) {
      ++metrics_.store_errors;
      log::error("dispatcher: store: ", e.what());
      continue;
    }
    if (!lane.bucket.unlimited()) lane.bucket.take(static_cast<int64_t>(claimed.size()));
    for (const auto& c : claimed) {
      try {
        send(lane, c);
      } catch (const StoreError& e) {
        // Left `sending`: the restart rule settles it, as after a crash.
        ++metrics_.store_errors;
        log::error("dispatcher: delivery ", c.id, ": store: ", e.what());
      }
    }
    if (claimed.size() == want && lane.in_flight < l.concurrency) wake = 0;
  }
  arm_timer(wake);
}

std::shared_ptr<const Directive> Dispatcher::directive(const std::string& id) {
  if (auto it = directives_.find(id); it != directives_.end()) return it->second;
  auto raw = store_.directive_raw(id);
  if (!raw) return nullptr;
  DirectiveParse p = parse_directive(*raw, std::max<size_t>(raw->size(), cfg_.intake.max_directive_bytes));
  if (!p.directive) return nullptr;
  if (directives_.size() >= 1024) directives_.clear();  // a simple bound; misses re-parse
  // The ack code is the store's, not the message's.
  if (p.directive->ack_required)
    if (auto detail = store_.directive(id)) p.directive->ack_code = detail->summary.ack_code;
  auto d = std::make_shared<const Directive>(std::move(*p.directive));
  directives_.emplace(id, d);
  return d;
}

std::string Dispatcher::receipt_url(const Lane& lane, const std::string& token) const {
  std::string url = cfg_.dispatch.public_url + "/hooks/" + std::string(to_string(lane.channel)) +
                    "/" + lane.gateway->name() + "/" + token;
  std::string q = lane.gateway->receipt_query();
  return q.empty() ? url : url + "?" + q;
}

void Dispatcher::send(Lane& lane, const ClaimedDelivery& c) {
  auto d = directive(c.directive_id);
  if (!d) {
    store_.transition(c.id, {DeliveryState::failed, Cause::gateway_failed, "dispatcher", {},
                             std::string("directive_unreadable"), "the stored directive cannot be read", {}, {}});
    return;
  }
  OutboundMessage m;
  m.delivery_id = c.id;
  m.token = c.token;
  m.channel = c.channel;
  m.address = c.address;
  m.receipt_url = receipt_url(lane, c.token);
  m.directive = d.get();
  m.recipient_name = c.recipient_name;
  // Reminders and escalations say their own thing (render/followup.hpp).
  Directive followup;
  if (c.purpose != "directive") {
    followup = followup_view(*d, c.purpose, c.note);
    m.directive = &followup;
  }
  if (m.directive->ack_required && !m.directive->ack_code.empty() && !ack_secret_.empty() &&
      (c.channel == Channel::email || c.channel == Channel::zalo)) {
    const int64_t base = d->ack_deadline_ms.value_or(now_ms());
    m.ack_url = cfg_.dispatch.public_url + "/ack/" +
                acks::sign_ack_token({c.id, (base + cfg_.acks.link_ttl_ms) / 1000}, ack_secret_);
  }
  if (c.purpose == "help") {
    // How to acknowledge, to someone whose reply could not be placed: the text is the note.
    m.directive = nullptr;
    m.text = c.note;
  }
  if (c.channel == Channel::sms && m.directive) {
    SmsTemplate t = cfg_.channels.at(Channel::sms).sms_template;
    t.unaccented = t.unaccented || lane.gateway->unaccented();
    RenderedSms r = render_sms(*m.directive, t, {});
    m.text = std::move(r.text);
    m.coding = r.size.coding;
  }
  if (c.channel == Channel::loudspeaker && announcer_) {
    // The job needs the spoken audio: rendered on the audio worker (or found in its
    // cache), then sent. The delivery counts against the lane's concurrency meanwhile.
    auto dir = directory_ ? directory_() : nullptr;
    const Zone* zone = dir ? dir->zone(c.address) : nullptr;
    ++lane.in_flight;
    announcer_->prepare(*d, zone, [this, &lane, c, m = std::move(m), d, dir](std::optional<Announcement> a,
                                                                             std::string error) mutable {
      --lane.in_flight;
      if (stopping_) return;  // left `sending`: the restart rule settles it
      if (!a) {
        finish(lane, c, SendResult{{SendErrorKind::rejected_content, "withheld", error}, {}, 0});
        request_pump();
        return;
      }
      if (!error.empty())
        log::warning("delivery ", c.id, " (zone ", c.address, "): sent as text only: ", error);
      m.announcement = std::move(a);
      try {
        transmit(lane, c, m);
      } catch (const StoreError& e) {
        ++metrics_.store_errors;
        log::error("dispatcher: delivery ", c.id, ": store: ", e.what());
      }
      request_pump();
    });
    return;
  }
  transmit(lane, c, m);
}

void Dispatcher::transmit(Lane& lane, const ClaimedDelivery& c, const OutboundMessage& m) {
  if (auto refused = lane.gateway->refuse(m)) {
    finish(lane, c, SendResult{*refused, {}, 0});
    return;
  }
  net::HttpRequest req = lane.gateway->build(m);
  ++lane.in_flight;
  ++metrics_.send_attempts;
  curl_.perform(std::move(req), [this, &lane, c, credentials = lane.credentials](net::HttpResponse&& resp) {
    --lane.in_flight;
    SendResult r = lane.gateway->parse(resp);
    try {
      finish(lane, c, r, credentials == lane.credentials);
    } catch (const StoreError& e) {
      // The send's outcome could not be recorded: it stays `sending`, and the restart
      // rule settles it (a receipt, or a resend after the grace period).
      ++metrics_.store_errors;
      log::error("dispatcher: cannot record outcome of delivery ", c.id, ": ", e.what());
    }
    request_pump();
  });
}

int64_t Dispatcher::backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms) {
  int shift = std::clamp(attempt - 1, 0, 30);
  return std::min<int64_t>(max_ms, initial_ms << shift);
}

int64_t Dispatcher::backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, std::mt19937_64& rng) {
  int64_t ceiling = backoff_ceiling_ms(attempt, initial_ms, max_ms);
  if (ceiling <= 0) return 0;
  return std::uniform_int_distribution<int64_t>(0, ceiling)(rng);
}

void Dispatcher::finish(Lane& lane, const ClaimedDelivery& c, const SendResult& r, bool credentials_current) {
  const int64_t now = now_ms();
  const std::string source = "gateway:" + lane.gateway->name();
  if (r.error.ok()) {
    lane.breaker.on_success();
    ++metrics_.send_accepted;
    // Accepted: an earlier attempt's error no longer describes this delivery (the event
    // log keeps it).
    TransitionRequest accepted{DeliveryState::sent, Cause::gateway_accepted, source, "accepted",
                               std::string(), {}, r.provider_ref, {}};
    accepted.settle_fallback = !lane.gateway->reports_delivery();
    store_.transition(c.id, accepted);
    return;
  }
  if (r.error.counts_against_gateway() && lane.breaker.on_failure(now))
    log::warning("gateway ", lane.gateway->name(), ": circuit breaker open for ",
                 lane.gateway->limits().breaker_cooldown_ms, " ms after ", to_string(r.error.kind));
  std::string what = std::string(to_string(r.error.kind));
  if (!r.error.retryable()) {
    ++metrics_.send_failed;
    log::info("delivery ", c.id, " (", c.recipient_id, "): failed permanently: ", r.error.code, " ",
              r.error.text);
    store_.transition(c.id, {DeliveryState::failed, Cause::gateway_failed, source, what,
                             r.error.code, r.error.text, {}, {}});
    return;
  }
  if (c.attempts >= cfg_.dispatch.max_attempts) {
    ++metrics_.send_failed;
    store_.transition(c.id, {DeliveryState::failed, Cause::gateway_failed, source,
                             "gave up after " + std::to_string(c.attempts) + " attempts",
                             r.error.code, r.error.text, {}, {}});
    return;
  }
  int64_t delay = backoff_ms(c.attempts, cfg_.dispatch.backoff_initial_ms, cfg_.dispatch.backoff_max_ms, rng_);
  if (r.error.kind == SendErrorKind::throttled) delay = std::max(delay, r.retry_after_ms);
  if (r.error.kind == SendErrorKind::token_expired) {
    delay = 0;  // due at once; the lane waits for the refresh before it sends again
    // Sends in flight with the old token answer -216 after the refresh too: one refresh
    // is enough (each spends a rotating refresh token).
    if (credentials_current) refresh(lane);
  }
  auto d = directive(c.directive_id);
  // An escalation is sent after the deadline by design; the rest is pointless after it.
  if (d && d->ack_deadline_ms && c.purpose != "escalation" && now + delay > *d->ack_deadline_ms) {
    ++metrics_.send_failed;
    store_.transition(c.id, {DeliveryState::expired, Cause::gateway_failed, source,
                             "deadline passed before a retry could succeed", r.error.code, r.error.text, {}, {}});
    return;
  }
  ++metrics_.send_retries;
  log::info("delivery ", c.id, " (", c.recipient_id, "): ", what, ", retry ", c.attempts + 1, " in ",
            delay, " ms");
  const int64_t ceiling = backoff_ceiling_ms(c.attempts, cfg_.dispatch.backoff_initial_ms,
                                             cfg_.dispatch.backoff_max_ms);
  store_.transition(c.id, {DeliveryState::retrying, Cause::gateway_retry, source,
                           what + ", retry in " + std::to_string(delay) + " ms (backoff ceiling " +
                               std::to_string(ceiling) + " ms)",
                           r.error.code,
                           r.error.text, {}, now + delay});
}

void Dispatcher::refresh(Lane& lane) {
  if (lane.refreshing) return;
  auto req = lane.gateway->refresh_request();
  if (!req) return;
  lane.refreshing = true;
  log::info("gateway ", lane.gateway->name(), ": credentials expired, refreshing");
  curl_.perform(std::move(*req), [this, &lane](net::HttpResponse&& resp) {
    std::map<std::string, std::string> persist;
    bool ok = lane.gateway->apply_refresh(resp, persist);
    try {
      // A rotated refresh token is only good once: keep the new one before using it.
      if (!persist.empty()) store_.put_gateway_state(lane.gateway->name(), persist);
    } catch (const StoreError& e) {
      ++metrics_.store_errors;
      log::error("gateway ", lane.gateway->name(), ": cannot keep refreshed credentials: ", e.what());
    }
    lane.refreshing = false;
    if (ok) {
      ++lane.credentials;
      ++metrics_.credential_refreshes;
      log::info("gateway ", lane.gateway->name(), ": credentials refreshed");
    } else {
      log::error("gateway ", lane.gateway->name(), ": credential refresh failed (HTTP ", resp.status, ")");
      lane.breaker.on_failure(now_ms());
    }
    request_pump();
  });
}

std::string Dispatcher::metrics_text() const {
  std::string out =
      "# HELP herald_gateway_breaker_open Whether the gateway's circuit breaker is open (1) or half-open (0.5).\n"
      "# TYPE herald_gateway_breaker_open gauge\n";
  std::string inflight = "# HELP herald_gateway_in_flight Sends awaiting the gateway's answer.\n"
                         "# TYPE herald_gateway_in_flight gauge\n";
  for (const auto& lane : lanes_) {
    const char* v = lane.breaker.state() == CircuitBreaker::State::open        ? "1"
                    : lane.breaker.state() == CircuitBreaker::State::half_open ? "0.5"
                                                                               : "0";
    out += "herald_gateway_breaker_open{gateway=\"" + lane.gateway->name() + "\"} " + v + "\n";
    inflight += "herald_gateway_in_flight{gateway=\"" + lane.gateway->name() + "\"} " +
                std::to_string(lane.in_flight) + "\n";
  }
  return out + inflight;
}

}  // namespace herald
