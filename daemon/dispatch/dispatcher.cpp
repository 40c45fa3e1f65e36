#include "dispatch/dispatcher.hpp"

#include <boost/asio/post.hpp>

#include "core/log.hpp"
#include "core/time.hpp"
#include "dispatch/retry.hpp"
#include "settings/redact.hpp"

namespace herald {

namespace asio = boost::asio;

Dispatcher::Dispatcher(asio::io_context& io, Store& store, StoreWriter& writer, net::CurlMulti& curl,
                       const Config& cfg, const Gateways& gateways, Metrics& metrics)
    : io_(io), store_(store), writer_(writer), curl_(curl), cfg_(cfg), metrics_(metrics), composer_(cfg, store),
      timer_(io), rng_(std::random_device{}()), outcomes_(io, writer, metrics) {
  if (store_.shared())
    lease_ = std::make_unique<Lease>(store_, writer_, io_, metrics_, cfg_.store.instance, cfg_.store.lease_ms,
                                     cfg_.dispatch.resume_grace_ms);
  for (const auto& [channel, cc] : cfg_.channels) {
    if (!cc.enabled || cc.gateway.empty()) continue;
    auto it = gateways.find(cc.gateway);
    if (it == gateways.end()) continue;  // config validation refuses this
    lanes_.emplace_back(channel, it->second, Credentials(*it->second, writer_, curl_, metrics_, store_.shared()),
                        lease_.get());
  }
}

void Dispatcher::start() {
  size_t n = store_.recover_in_flight(now_ms(), cfg_.dispatch.resume_grace_ms);
  if (n)
    log::warning(n, " deliveries were in flight when heraldd last stopped; they are resent after ",
                 cfg_.dispatch.resume_grace_ms, " ms unless their receipts arrive first");
  for (auto& lane : lanes_) {
    lane.credentials.restore(store_);
    log::info("dispatching ", to_string(lane.channel), " through gateway ", lane.gateway->name());
  }
  if (lease_) lease_->start([this] { lease_renewed(); }, [this] { kick(); });
  request_pump();
}

void Dispatcher::lease_renewed() {
  if (lease_lost_logged_) log::info("store lease renewed: sending again");
  lease_lost_logged_ = false;
  if (!orphaned_.empty()) {
    log::warning(orphaned_.size(), " deliveries claimed before the lease ran out go back to the store",
                 " (those another instance took over stay with it)");
    release_unsent(std::move(orphaned_));
    orphaned_.clear();
  }
  request_pump();
}

void Dispatcher::stop() {
  stopping_ = true;
  timer_.cancel();
  if (lease_) lease_->stop();
  // Claimed ahead but never sent: due again at once for the next start (a crash instead
  // leaves them to the restart rule, like sends in flight).
  std::vector<int64_t> unsent;
  for (Lane& lane : lanes_) {
    for (const auto& c : lane.ready) unsent.push_back(c.id);
    lane.ready.clear();
  }
  release_unsent(std::move(unsent));
}

void Dispatcher::release_unsent(std::vector<int64_t> ids) {
  if (ids.empty()) return;
  writer_.submit([ids = std::move(ids)](Store& s) { return s.release_unsent(ids, now_ms()); },
                 [](std::optional<size_t>&&, const std::string& error) {
                   if (!error.empty()) log::error("dispatcher: cannot release unsent claims: ", error);
                 });
}

int Dispatcher::in_flight() const {
  int n = 0;
  for (const auto& lane : lanes_) n += lane.in_flight;
  return n;
}

void Dispatcher::drain(std::function<void()> done, int64_t timeout_ms) {
  drained_ = std::move(done);
  if (const int n = in_flight()) {
    log::info("waiting up to ", timeout_ms, " ms for ", n, " sends in flight to be answered");
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !drained_) return;
      log::warning(in_flight(), " sends still unanswered at shutdown; the restart rule settles them");
      auto cb = std::move(drained_);
      drained_ = nullptr;
      cb();
    });
    return;
  }
  maybe_drained();
}

void Dispatcher::maybe_drained() {
  if (!drained_ || in_flight() != 0) return;
  timer_.cancel();
  auto cb = std::move(drained_);
  drained_ = nullptr;
  cb();
}

void Dispatcher::kick() {
  asio::post(io_, [this] {
    for (Lane& lane : lanes_) lane.drained_until_ms = 0;  // new work may be due
    request_pump();
  });
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
  if (stopping_) return;
  const int64_t at = now_ms() + std::max<int64_t>(delay_ms, 1);
  if (timer_armed_ && timer_at_ms_ <= at) return;  // an earlier wake-up stands
  timer_armed_ = true;
  timer_at_ms_ = at;
  timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(delay_ms, 1)));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or stopped
    timer_armed_ = false;
    pump();
  });
}

void Dispatcher::pump() {
  if (stopping_) return;
  const int64_t now = now_ms();
  int64_t wake = cfg_.dispatch.poll_interval_ms;
  // Sent but unconfirmed past their chain's wait: fail over to the next channel.
  outcomes_.expire_unconfirmed(now, std::min<int64_t>(cfg_.dispatch.poll_interval_ms, 1000), [this] { request_pump(); });
  for (Lane& lane : lanes_) {
    if (lane.credentials.refreshing()) continue;  // the refresh's completion pumps again
    int64_t allowed = lane.allowance(now, wake, [this] { request_pump(); });
    if (!lease_allows(lane, wake)) allowed = 0;
    while (allowed > 0 && !lane.ready.empty()) {
      ClaimedDelivery c = std::move(lane.ready.front());
      lane.ready.pop_front();
      lane.sending_one();
      --allowed;
      try {
        send(lane, c);
      } catch (const StoreError& e) {
        // Left `sending`: the restart rule settles it, as after a crash.
        ++metrics_.store_errors;
        log::error("dispatcher: delivery ", c.id, ": store: ", e.what());
      }
    }
    if (allowed <= 0) {
      if (lane.breaker.state() == CircuitBreaker::State::open)
        wake = std::min(wake, lane.breaker.reopens_at_ms() - now);
      else if (!lane.bucket.unlimited() && lane.in_flight < lane.gateway->limits().concurrency)
        wake = std::min(wake, lane.bucket.wait_ms(now));
      // otherwise completions pump again when in-flight sends end
    }
    // Claim ahead, unless the gateway is refusing sends or nothing more is due yet.
    const size_t target = lane.prefetch(cfg_.dispatch.batch);
    if (!lane.claiming && lane.breaker.state() != CircuitBreaker::State::open && now >= lane.drained_until_ms &&
        (!lease_ || lease_->held()) && lane.ready.size() <= target / 2)
      claim(lane, target - lane.ready.size(), now);
  }
  arm_timer(wake);
}

bool Dispatcher::lease_allows(Lane& lane, int64_t& wake) {
  if (!lease_ || lease_->held()) return true;
  const int64_t silent = lease_->silent_ms();
  if (!lease_lost_logged_ && !lane.ready.empty()) log::warning("store lease not renewed for ", silent, " ms: sending paused");
  lease_lost_logged_ = lease_lost_logged_ || !lane.ready.empty();
  if (silent >= lease_->lease_ms()) {
    for (const auto& c : lane.ready) orphaned_.push_back(c.id);
    lane.ready.clear();
  }
  wake = std::min<int64_t>(wake, 200);
  return false;
}

void Dispatcher::claim(Lane& lane, size_t want, int64_t now) {
  lane.claiming = true;
  writer_.submit(
      [this, channel = lane.channel, gateway = lane.gateway->name(), now, want](Store& s) {
        Claim c;
        c.deliveries = s.claim_due(channel, gateway, now, want);
        if (c.deliveries.size() < want) c.next_due_ms = s.next_due_ms(channel);
        // Parse each directive here, off the loop, so that sending finds it cached.
        const std::string* last = nullptr;
        for (const auto& d : c.deliveries) {
          if (last && *last == d.directive_id) continue;
          last = &d.directive_id;
          composer_.directive(s, d.directive_id);
        }
        return c;
      },
      [this, &lane, want, now](std::optional<Claim>&& c, const std::string& error) {
        lane.claiming = false;
        if (!error.empty()) {
          ++metrics_.store_errors;
          log::error("dispatcher: store: ", error);
          return;  // the poll timer tries again
        }
        if (stopping_) {  // claimed while stopping: not sent, so due again at once
          std::vector<int64_t> ids;
          for (const auto& d : c->deliveries) ids.push_back(d.id);
          release_unsent(std::move(ids));
          return;
        }
        claimed(lane, want, now, std::move(*c));
      });
}

void Dispatcher::claimed(Lane& lane, size_t want, int64_t claimed_at, Claim&& c) {
  if (c.deliveries.size() < want) {
    // The claim took all it could. Work due by then that it left is not claimable now (a
    // cancelled directive whose deliveries are being cancelled in batches; rows another
    // instance holds): look again after a poll interval, not at once (that would spin),
    // and after longer ones (up to 8) while it lasts, since each such claim reads past
    // all of those rows and keeps the store writer from the batches that clear them.
    const bool stranded = !c.next_due_ms || *c.next_due_ms <= claimed_at;
    lane.stranded_claims = stranded && c.next_due_ms ? lane.stranded_claims + 1 : 0;
    const int64_t wait = cfg_.dispatch.poll_interval_ms << std::min(std::max(lane.stranded_claims - 1, 0), 3);
    const int64_t next = stranded ? now_ms() + wait : *c.next_due_ms;
    lane.drained_until_ms = next;
    arm_timer(next - now_ms());
  }
  if (!c.deliveries.empty()) lane.stranded_claims = 0;
  for (auto& d : c.deliveries) lane.ready.push_back(std::move(d));
  request_pump();
}

void Dispatcher::record(int64_t delivery_id, TransitionRequest t, Lane* accepted_by) {
  outcomes_.record(delivery_id, std::move(t), [this, accepted_by](const TransitionResult& r) {
    if (accepted_by) {
      --accepted_by->unconfirmed;
      request_pump();  // the lane may send again (pumps coalesce)
    }
    // A retry or a fallback is now queued: look for it.
    if (r.applied && (r.state == DeliveryState::retrying || r.fallback_id)) {
      for (Lane& lane : lanes_) lane.drained_until_ms = 0;
      request_pump();
    }
  });
}

void Dispatcher::send(Lane& lane, const ClaimedDelivery& c) {
  if (!composer_.renders_audio(c)) {
    composer_.compose(*lane.gateway, c, [&](Composition&& m) { deliver(lane, c, std::move(m)); });
    return;
  }
  // The audio is rendered off the loop; the delivery counts against the lane's
  // concurrency meanwhile.
  ++lane.in_flight;
  composer_.compose(*lane.gateway, c, [this, &lane, c](Composition&& m) {
    --lane.in_flight;
    if (stopping_) {  // not sent: due again at once at the next start
      release_unsent({c.id});
      maybe_drained();
      return;
    }
    try {
      deliver(lane, c, std::move(m));
    } catch (const StoreError& e) {
      ++metrics_.store_errors;
      log::error("dispatcher: delivery ", c.id, ": store: ", e.what());
    }
    request_pump();
  });
}

void Dispatcher::deliver(Lane& lane, const ClaimedDelivery& c, Composition&& m) {
  switch (m.kind) {
    case Composition::Kind::unreadable:
      record(c.id, {DeliveryState::failed, Cause::gateway_failed, "dispatcher", {}, std::string("directive_unreadable"),
                    "the stored directive cannot be read", {}, {}});
      return;
    case Composition::Kind::withheld:
      finish(lane, c, SendResult{{SendErrorKind::rejected_content, "withheld", m.why}, {}, 0});
      return;
    case Composition::Kind::message: transmit(lane, c, m.message); return;
  }
}

void Dispatcher::transmit(Lane& lane, const ClaimedDelivery& c, const OutboundMessage& m) {
  if (auto refused = lane.gateway->refuse(m)) {
    finish(lane, c, SendResult{*refused, {}, 0});
    return;
  }
  net::HttpRequest req = lane.gateway->build(m);
  ++lane.in_flight;
  ++metrics_.send_attempts;
  curl_.perform(std::move(req),
                [this, &lane, c, credentials = lane.credentials.generation()](net::HttpResponse&& resp) {
                  --lane.in_flight;
                  SendResult r = lane.gateway->parse(resp);
                  // Any adapter's 429 carries the provider's Retry-After unless it read a hint itself.
                  if (r.error.kind == SendErrorKind::throttled && r.retry_after_ms == 0)
                    r.retry_after_ms = resp.retry_after_ms;
                  finish(lane, c, r, credentials == lane.credentials.generation());
                  if (stopping_) maybe_drained();
                  else request_pump();
                });
}

void Dispatcher::finish(Lane& lane, const ClaimedDelivery& c, const SendResult& answer, bool credentials_current) {
  // The provider's text is logged, kept as the delivery's error and shown by the API: it
  // may quote the request it got, credentials and all (settings/redact.hpp).
  SendResult r = answer;
  r.error.text = redact_secrets(std::move(r.error.text));
  const int64_t now = now_ms();
  const std::string source = "gateway:" + lane.gateway->name();
  auto d = composer_.directive(store_, c.directive_id);
  retry::Attempt attempt{r.error, r.retry_after_ms, c.attempts, now,
                         d ? d->ack_deadline_ms : std::nullopt, c.purpose == Purpose::escalation};
  const retry::Policy policy{cfg_.dispatch.max_attempts, cfg_.dispatch.backoff_initial_ms,
                             cfg_.dispatch.backoff_max_ms};
  const retry::Decision next = retry::decide(attempt, policy, [this](int64_t ceiling) {
    return std::uniform_int_distribution<int64_t>(0, ceiling)(rng_);
  });
  if (next.state == DeliveryState::sent) {
    lane.breaker.on_success();
    ++metrics_.send_accepted;
    // Accepted: an earlier attempt's error no longer describes this delivery (the event
    // log keeps it).
    TransitionRequest accepted{DeliveryState::sent, Cause::gateway_accepted, source, next.detail,
                               std::string(), {}, r.provider_ref, {}};
    accepted.settle_fallback = !lane.gateway->reports_delivery();
    // Until this commits, a crash would leave the delivery `sending` and the restart rule
    // would send it again: the lane holds back while too many such are waiting (pump()).
    ++lane.unconfirmed;
    record(c.id, std::move(accepted), &lane);
    return;
  }
  lane.failed(r.error, next.throttle_until_ms, now);
  // Sends in flight with the old token answer -216 after the refresh too: one refresh is
  // enough (each spends a rotating refresh token).
  if (next.refresh_credentials && credentials_current)
    lane.credentials.refresh([this, &lane](bool ok) {
      if (!ok) lane.breaker.on_failure(now_ms());
      request_pump();
    });
  if (next.state == DeliveryState::retrying) {
    ++metrics_.send_retries;
    log::info("delivery ", c.id, " (", c.recipient_id, "): ", to_string(r.error.kind), ", retry ", c.attempts + 1,
              " in ", next.delay_ms, " ms");
    record(c.id, {DeliveryState::retrying, Cause::gateway_retry, source, next.detail, r.error.code, r.error.text, {},
                  next.due_ms});
    return;
  }
  ++metrics_.send_failed;
  if (next.state == DeliveryState::failed && !r.error.retryable())
    log::info("delivery ", c.id, " (", c.recipient_id, "): failed permanently: ", r.error.code, " ", r.error.text);
  record(c.id, {next.state, Cause::gateway_failed, source, next.detail, r.error.code, r.error.text, {}, {}});
}

std::string Dispatcher::metrics_text() const {
  return lanes_metrics_text(lanes_, now_ms()) + (lease_ ? lease_->metrics_text() : std::string());
}

}  // namespace herald
