#include "dispatch/dispatcher.hpp"

#include <boost/asio/post.hpp>

#include "settings/redact.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "acks/ack_link.hpp"
#include "render/followup.hpp"
#include "render/sms_render.hpp"

namespace herald {

namespace asio = boost::asio;

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Dispatcher::Dispatcher(asio::io_context& io, Store& store, StoreWriter& writer, net::CurlMulti& curl,
                       const Config& cfg, Metrics& metrics)
    : io_(io), store_(store), writer_(writer), curl_(curl), cfg_(cfg), metrics_(metrics), timer_(io),
      rng_(std::random_device{}()) {
  if (store_.shared()) {
    control_ = std::make_unique<asio::thread_pool>(1);
    lease_timer_ = std::make_unique<asio::steady_timer>(control_->get_executor());
    lease_renewed_ms_ = steady_ms();  // opening the store renewed it
  }
  for (const auto& [channel, cc] : cfg_.channels) {
    if (!cc.enabled || cc.gateway.empty()) continue;
    auto it = cfg_.gateways.find(cc.gateway);
    if (it == cfg_.gateways.end()) continue;  // config validation refuses this
    const GatewayLimits& l = it->second->limits();
    lanes_.emplace_back(channel, it->second, TokenBucket(l.rate_per_s, l.rate_per_s),
                        CircuitBreaker(l.breaker_failures, l.breaker_cooldown_ms));
  }
}

Dispatcher::~Dispatcher() {
  // The control thread's work (a lease renewal, a rate request) ends before the members it
  // uses go.
  if (control_) {
    control_->stop();
    control_->join();
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
    lane.credentials_seen = store_.gateway_state(lane.gateway->name());
    lane.gateway->restore(lane.credentials_seen);
    log::info("dispatching ", to_string(lane.channel), " through gateway ", lane.gateway->name());
  }
  if (control_) asio::post(*control_, [this] { lease_tick(); });
  request_pump();
}

int64_t Dispatcher::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Dispatcher::lease_tick() {
  if (stopping_) return;
  const int64_t asked = steady_ms();
  {
    std::string error;
    try {
      store_.renew_lease(now_ms());
      lease_renewed_ms_ = std::max(lease_renewed_ms_.load(), asked);
    } catch (const StoreError& e) {
      error = e.what();
    }
    asio::post(io_, [this, error] {
      if (error.empty()) {
        if (lease_lost_logged_) log::info("store lease renewed: sending again");
        lease_lost_logged_ = false;
        if (!orphaned_.empty()) {
          log::warning(orphaned_.size(), " deliveries claimed before the lease ran out go back to the store",
                       " (those another instance took over stay with it)");
          release_unsent(std::move(orphaned_));
          orphaned_.clear();
        }
        request_pump();
      } else {
        ++metrics_.store_errors;
        log::error("store: cannot renew this instance's lease: ", error);
      }
    });
  }
  // Claims of instances that stopped renewing theirs come back as due work.
  if (!taking_over_.exchange(true)) {
    writer_.submit([grace = cfg_.dispatch.resume_grace_ms](Store& s) { return s.take_over(now_ms(), grace); },
                   [this](std::optional<size_t>&& n, const std::string& error) {
                     taking_over_ = false;
                     if (!error.empty()) {
                       ++metrics_.store_errors;
                       log::error("store: take-over: ", error);
                     } else if (*n) {
                       log::warning(*n, " deliveries claimed by an instance whose lease ran out are taken over; "
                                        "they are resent after ", cfg_.dispatch.resume_grace_ms,
                                    " ms unless their receipts arrive first");
                       kick();
                     }
                   });
  }
  lease_timer_->expires_after(std::chrono::milliseconds(std::max<int64_t>(cfg_.store.lease_ms / 3, 100)));
  lease_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) lease_tick();
  });
}

bool Dispatcher::lease_held() const { return !control_ || steady_ms() - lease_renewed_ms_ < cfg_.store.lease_ms / 2; }

void Dispatcher::ask_tokens(Lane& lane, int64_t now) {
  const GatewayLimits& l = lane.gateway->limits();
  // A fifth of a second's sends at a time, from a bucket holding half a second's.
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(l.rate_per_s / 5));
  if (lane.asking_tokens || now < lane.ask_tokens_at_ms || lane.shared_tokens * 2 > chunk) return;
  lane.asking_tokens = true;
  const int64_t want = chunk - lane.shared_tokens;
  asio::post(*control_, [this, &lane, want, rate = l.rate_per_s, gateway = lane.gateway->name()] {
    int64_t got = 0;
    std::string error;
    try {
      got = store_.take_rate_tokens(gateway, want, rate, std::max(1.0, rate / 2));
    } catch (const StoreError& e) {
      error = e.what();
    }
    asio::post(io_, [this, &lane, want, got, rate, error] {
      lane.asking_tokens = false;
      lane.shared_tokens += got;
      if (!error.empty()) {
        ++metrics_.store_errors;
        log::error("store: gateway ", lane.gateway->name(), "'s shared rate: ", error);
      }
      // Short: until what was missing has been refilled (other instances take some too).
      if (got < want)
        lane.ask_tokens_at_ms =
            now_ms() + std::clamp<int64_t>(static_cast<int64_t>(1000.0 * static_cast<double>(want - got) / rate), 20, 500);
      request_pump();
    });
  });
}

void Dispatcher::stop() {
  stopping_ = true;
  timer_.cancel();
  if (control_) asio::post(*control_, [this] { lease_timer_->cancel(); });
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
  // Sent but unconfirmed past their chain's wait: fail over to the next channel. Looked
  // for at most every poll interval (and never twice at once), not on every pump.
  if (!expiring_ && now >= next_expiry_check_ms_) {
    expiring_ = true;
    next_expiry_check_ms_ = now + std::min<int64_t>(cfg_.dispatch.poll_interval_ms, 1000);
    writer_.submit([now](Store& s) { return s.expire_unconfirmed(now); },
                   [this](std::optional<size_t>&& n, const std::string& error) {
                     expiring_ = false;
                     if (!error.empty()) {
                       ++metrics_.store_errors;
                       log::error("dispatcher: store: ", error);
                     } else if (*n) {
                       log::info(*n, " deliveries got no receipt in time; trying their next channel");
                       request_pump();
                     }
                   });
  }
  for (Lane& lane : lanes_) {
    const GatewayLimits& l = lane.gateway->limits();
    if (lane.refreshing) continue;  // the refresh's completion pumps again
    // Send what is claimed, as far as the breaker, the concurrency cap and the rate allow.
    int64_t allowance = lane.breaker.allowance(now, lane.in_flight, l.concurrency);
    // Accepted sends not yet committed are what a crash would send twice: they, with the
    // sends in flight, stay within twice the concurrency (docs/dispatch.md's bound).
    allowance = std::min<int64_t>(allowance, int64_t{unconfirmed_cap(lane)} - lane.in_flight - lane.unconfirmed);
    if (now < lane.throttled_until_ms) {
      allowance = 0;
      wake = std::min(wake, lane.throttled_until_ms - now);
    }
    if (allowance > 0 && !lane.bucket.unlimited())
      allowance = std::min(allowance, lane.bucket.available(now));
    // Several instances: the gateway's rate is theirs together.
    const bool shared_rate = control_ && !lane.bucket.unlimited();
    if (shared_rate && allowance > 0 && !lane.ready.empty()) {
      ask_tokens(lane, now);
      allowance = std::min(allowance, lane.shared_tokens);
      if (allowance <= 0 && !lane.asking_tokens) wake = std::min(wake, std::max<int64_t>(lane.ask_tokens_at_ms - now, 1));
    }
    // Its claims may be another instance's by now: nothing is sent until the lease is renewed.
    if (!lease_held()) {
      const int64_t silent = steady_ms() - lease_renewed_ms_;
      if (!lease_lost_logged_ && !lane.ready.empty())
        log::warning("store lease not renewed for ", silent, " ms: sending paused");
      lease_lost_logged_ = lease_lost_logged_ || !lane.ready.empty();
      if (silent >= cfg_.store.lease_ms) {
        for (const auto& c : lane.ready) orphaned_.push_back(c.id);
        lane.ready.clear();
      }
      allowance = 0;
      wake = std::min<int64_t>(wake, 200);
    }
    while (allowance > 0 && !lane.ready.empty()) {
      ClaimedDelivery c = std::move(lane.ready.front());
      lane.ready.pop_front();
      if (!lane.bucket.unlimited()) lane.bucket.take(1);
      if (shared_rate) --lane.shared_tokens;
      --allowance;
      try {
        send(lane, c);
      } catch (const StoreError& e) {
        // Left `sending`: the restart rule settles it, as after a crash.
        ++metrics_.store_errors;
        log::error("dispatcher: delivery ", c.id, ": store: ", e.what());
      }
    }
    if (allowance <= 0) {
      if (lane.breaker.state() == CircuitBreaker::State::open)
        wake = std::min(wake, lane.breaker.reopens_at_ms() - now);
      else if (!lane.bucket.unlimited() && lane.in_flight < l.concurrency)
        wake = std::min(wake, lane.bucket.wait_ms(now));
      // otherwise completions pump again when in-flight sends end
    }
    // Claim ahead, unless the gateway is refusing sends or nothing more is due yet.
    const size_t target = prefetch(lane);
    if (!lane.claiming && lane.breaker.state() != CircuitBreaker::State::open && now >= lane.drained_until_ms &&
        lease_held() &&
        lane.ready.size() <= target / 2)
      claim(lane, target - lane.ready.size(), now);
  }
  arm_timer(wake);
}

int Dispatcher::unconfirmed_cap(const Lane& lane) { return 2 * lane.gateway->limits().concurrency; }

size_t Dispatcher::prefetch(const Lane& lane) const {
  const GatewayLimits& l = lane.gateway->limits();
  int64_t n = int64_t{l.concurrency} * 8;
  // A rate-limited gateway: a quarter of a second's sends.
  if (!lane.bucket.unlimited()) n = std::min<int64_t>(n, std::max<int64_t>(1, static_cast<int64_t>(l.rate_per_s / 4)));
  // Half-open: the probe alone.
  if (lane.breaker.state() == CircuitBreaker::State::half_open) n = 1;
  return static_cast<size_t>(std::clamp<int64_t>(n, 1, std::max<int64_t>(1, cfg_.dispatch.batch)));
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
          directive(s, d.directive_id);
        }
        return c;
      },
      [this, &lane, want](std::optional<Claim>&& c, const std::string& error) {
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
        claimed(lane, want, std::move(*c));
      });
}

void Dispatcher::claimed(Lane& lane, size_t want, Claim&& c) {
  if (c.deliveries.size() < want)
    lane.drained_until_ms = c.next_due_ms ? *c.next_due_ms : now_ms() + cfg_.dispatch.poll_interval_ms;
  for (auto& d : c.deliveries) lane.ready.push_back(std::move(d));
  request_pump();
  if (c.deliveries.size() < want && c.next_due_ms) arm_timer(*c.next_due_ms - now_ms());
}

void Dispatcher::record(int64_t delivery_id, TransitionRequest t, int tries, Lane* accepted_by) {
  auto request = std::make_shared<const TransitionRequest>(std::move(t));
  writer_.submit([delivery_id, request](Store& s) { return s.transition(delivery_id, *request); },
                 [this, delivery_id, request, tries, accepted_by](std::optional<TransitionResult>&& r,
                                                                 const std::string& error) {
                   if (!error.empty()) {
                     // The store refused (disk full, locked past busy_timeout). A send's
                     // outcome is a fact that cannot be asked again: it is kept here and
                     // written again until the store takes it. Until then the delivery
                     // shows `sending`; only if heraldd stops first does the restart rule
                     // settle it (a receipt, or a resend after the grace).
                     ++metrics_.store_errors;
                     const int64_t wait = std::min<int64_t>(int64_t{250} << std::min(tries, 6), 10'000);
                     const int64_t now = now_ms();
                     if (now - unrecorded_logged_ms_ >= 1000) {
                       unrecorded_logged_ms_ = now;
                       log::error("dispatcher: cannot record the outcome of delivery ", delivery_id, ": ", error,
                                  "; kept in memory and written again (", unrecorded_ + 1, " waiting)");
                     }
                     ++unrecorded_;
                     auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(wait));
                     timer->async_wait(
                         [this, timer, delivery_id, request, tries, accepted_by](const boost::system::error_code&) {
                           --unrecorded_;
                           record(delivery_id, *request, tries + 1, accepted_by);
                         });
                     return;
                   }
                   if (accepted_by) {
                     --accepted_by->unconfirmed;
                     request_pump();  // the lane may send again (pumps coalesce)
                   }
                   if (tries > 0 && unrecorded_ == 0)
                     log::info("dispatcher: the store takes outcomes again; every outcome kept in memory is recorded");
                   // A retry or a fallback is now queued: look for it.
                   if (r->applied && (r->state == DeliveryState::retrying || r->fallback_id)) {
                     for (Lane& lane : lanes_) lane.drained_until_ms = 0;
                     request_pump();
                   }
                 });
}

std::shared_ptr<const Directive> Dispatcher::directive(const std::string& id) {
  return directive(store_, id);
}

std::shared_ptr<const Directive> Dispatcher::directive(Store& store, const std::string& id) {
  {
    std::lock_guard lock(directives_mu_);
    if (auto it = directives_.find(id); it != directives_.end()) return it->second;
  }
  auto raw = store.directive_raw(id);
  if (!raw) return nullptr;
  DirectiveParse p = parse_directive(*raw, std::max<size_t>(raw->size(), cfg_.intake.max_directive_bytes));
  if (!p.directive) return nullptr;
  // The ack code is the store's, not the message's.
  if (p.directive->ack_required)
    if (auto detail = store.directive(id)) p.directive->ack_code = detail->summary.ack_code;
  auto d = std::make_shared<const Directive>(std::move(*p.directive));
  std::lock_guard lock(directives_mu_);
  if (directives_.size() >= 1024) directives_.clear();  // a simple bound; misses re-parse
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
    record(c.id, {DeliveryState::failed, Cause::gateway_failed, "dispatcher", {},
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
  if (c.purpose != Purpose::directive) {
    followup = followup_view(*d, c.purpose, c.note);
    m.directive = &followup;
  }
  if (m.directive->ack_required && !m.directive->ack_code.empty() && !ack_secret_.empty() &&
      (c.channel == Channel::email || c.channel == Channel::zalo)) {
    const int64_t base = d->ack_deadline_ms.value_or(now_ms());
    m.ack_url = cfg_.dispatch.public_url + "/ack/" +
                acks::sign_ack_token({c.id, (base + cfg_.acks.link_ttl_ms) / 1000}, ack_secret_);
  }
  if (c.purpose == Purpose::help) {
    // How to acknowledge, to someone whose reply could not be placed: the text is the note.
    m.directive = nullptr;
    m.text = c.note;
  }
  if (c.channel == Channel::sms && m.directive) {
    // Every recipient of a directive gets the same text: rendered once per lane.
    const bool cacheable = c.purpose == Purpose::directive;
    if (!cacheable || lane.sms_for != d) {
      SmsTemplate t = cfg_.channels.at(Channel::sms).sms_template;
      t.unaccented = t.unaccented || lane.gateway->unaccented();
      RenderedSms r = render_sms(*m.directive, t, {});
      if (!cacheable) {
        m.text = std::move(r.text);
        m.coding = r.size.coding;
      } else {
        lane.sms_for = d;
        lane.sms_text = std::move(r.text);
        lane.sms_coding = r.size.coding;
      }
    }
    if (cacheable) {
      m.text = lane.sms_text;
      m.coding = lane.sms_coding;
    }
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
      if (stopping_) {  // not sent: due again at once at the next start
        release_unsent({c.id});
        maybe_drained();
        return;
      }
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
    // Any adapter's 429 carries the provider's Retry-After unless it read a hint itself.
    if (r.error.kind == SendErrorKind::throttled && r.retry_after_ms == 0) r.retry_after_ms = resp.retry_after_ms;
    finish(lane, c, r, credentials == lane.credentials);
    if (stopping_) maybe_drained();
    else request_pump();
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

void Dispatcher::finish(Lane& lane, const ClaimedDelivery& c, const SendResult& answer, bool credentials_current) {
  // The provider's text is logged, kept as the delivery's error and shown by the API: it
  // may quote the request it got, credentials and all (settings/redact.hpp).
  SendResult r = answer;
  r.error.text = redact_secrets(std::move(r.error.text));
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
    // Until this commits, a crash would leave the delivery `sending` and the restart rule
    // would send it again: the lane holds back while too many such are waiting (pump()).
    ++lane.unconfirmed;
    record(c.id, std::move(accepted), 0, &lane);
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
    record(c.id, {DeliveryState::failed, Cause::gateway_failed, source, what, r.error.code, r.error.text, {}, {}});
    return;
  }
  if (c.attempts >= cfg_.dispatch.max_attempts) {
    ++metrics_.send_failed;
    record(c.id, {DeliveryState::failed, Cause::gateway_failed, source,
                  "gave up after " + std::to_string(c.attempts) + " attempts", r.error.code, r.error.text, {}, {}});
    return;
  }
  int64_t delay = backoff_ms(c.attempts, cfg_.dispatch.backoff_initial_ms, cfg_.dispatch.backoff_max_ms, rng_);
  if (r.error.kind == SendErrorKind::throttled) {
    // A provider's hint is honoured up to backoff_max: an hour-long Retry-After is an outage.
    const int64_t hint = std::min(r.retry_after_ms, cfg_.dispatch.backoff_max_ms);
    delay = std::max(delay, hint);
    // A 429 is about the sender, not this message: the gateway as a whole waits.
    const int64_t until = now + (hint > 0 ? hint : cfg_.dispatch.backoff_initial_ms);
    if (until > lane.throttled_until_ms) {
      if (now >= lane.throttled_until_ms)
        log::warning("gateway ", lane.gateway->name(), ": throttled by the provider; no sends for ", until - now,
                     " ms");
      lane.throttled_until_ms = until;
    }
  }
  if (r.error.kind == SendErrorKind::token_expired) {
    delay = 0;  // due at once; the lane waits for the refresh before it sends again
    // Sends in flight with the old token answer -216 after the refresh too: one refresh
    // is enough (each spends a rotating refresh token).
    if (credentials_current) refresh(lane);
  }
  auto d = directive(c.directive_id);
  // An escalation is sent after the deadline by design; the rest is pointless after it.
  if (d && d->ack_deadline_ms && c.purpose != Purpose::escalation && now + delay > *d->ack_deadline_ms) {
    ++metrics_.send_failed;
    record(c.id, {DeliveryState::expired, Cause::gateway_failed, source,
                  "deadline passed before a retry could succeed", r.error.code, r.error.text, {}, {}});
    return;
  }
  ++metrics_.send_retries;
  log::info("delivery ", c.id, " (", c.recipient_id, "): ", what, ", retry ", c.attempts + 1, " in ",
            delay, " ms");
  const int64_t ceiling = backoff_ceiling_ms(c.attempts, cfg_.dispatch.backoff_initial_ms,
                                             cfg_.dispatch.backoff_max_ms);
  record(c.id, {DeliveryState::retrying, Cause::gateway_retry, source,
                what + ", retry in " + std::to_string(delay) + " ms (backoff ceiling " + std::to_string(ceiling) + " ms)",
                r.error.code, r.error.text, {}, now + delay});
}

void Dispatcher::refresh(Lane& lane) {
  if (lane.refreshing || !lane.gateway->refresh_request()) return;
  lane.refreshing = true;
  if (!control_) {
    send_refresh(lane);
    return;
  }
  // Several instances share the gateway's credentials, and a rotated refresh token is good
  // once: when another instance has refreshed them since this one last looked, its
  // credentials are taken instead of refreshing again (which would spend a token already
  // spent).
  writer_.submit([name = lane.gateway->name()](Store& s) { return s.gateway_state(name); },
                 [this, &lane](std::optional<std::map<std::string, std::string>>&& kept, const std::string& error) {
                   if (error.empty() && kept && !kept->empty() && *kept != lane.credentials_seen) {
                     lane.gateway->restore(*kept);
                     lane.credentials_seen = std::move(*kept);
                     log::info("gateway ", lane.gateway->name(), ": another instance refreshed the credentials");
                     lane.refreshing = false;
                     ++lane.credentials;
                     request_pump();
                     return;
                   }
                   send_refresh(lane);
                 });
}

void Dispatcher::send_refresh(Lane& lane) {
  auto req = lane.gateway->refresh_request();
  if (!req) {
    lane.refreshing = false;
    return;
  }
  log::info("gateway ", lane.gateway->name(), ": credentials expired, refreshing");
  curl_.perform(std::move(*req), [this, &lane](net::HttpResponse&& resp) {
    std::map<std::string, std::string> persist;
    bool ok = lane.gateway->apply_refresh(resp, persist);
    // A rotated refresh token is only good once: keep the new one before using it.
    if (ok) lane.credentials_seen = persist;
    writer_.submit(
        [name = lane.gateway->name(), persist = std::move(persist)](Store& s) {
          if (!persist.empty()) s.put_gateway_state(name, persist);
        },
        [this, &lane, ok, status = resp.status](const std::string& error) { refreshed(lane, ok, status, error); });
  });
}

void Dispatcher::refreshed(Lane& lane, bool ok, long status, const std::string& error) {
  {
    if (!error.empty()) {
      ++metrics_.store_errors;
      log::error("gateway ", lane.gateway->name(), ": cannot keep refreshed credentials: ", error);
    }
    lane.refreshing = false;
    if (ok) {
      ++lane.credentials;
      ++metrics_.credential_refreshes;
      log::info("gateway ", lane.gateway->name(), ": credentials refreshed");
    } else {
      log::error("gateway ", lane.gateway->name(), ": credential refresh failed (HTTP ", status, ")");
      lane.breaker.on_failure(now_ms());
    }
    request_pump();
  }
}

std::string Dispatcher::metrics_text() const {
  std::string out =
      "# HELP herald_gateway_breaker_open Whether the gateway's circuit breaker is open (1) or half-open (0.5).\n"
      "# TYPE herald_gateway_breaker_open gauge\n";
  std::string inflight = "# HELP herald_gateway_in_flight Sends awaiting the gateway's answer.\n"
                         "# TYPE herald_gateway_in_flight gauge\n";
  std::string throttled = "# HELP herald_gateway_throttled Whether the provider's 429 has the gateway paused (1).\n"
                          "# TYPE herald_gateway_throttled gauge\n";
  const int64_t now = now_ms();
  for (const auto& lane : lanes_) {
    const char* v = lane.breaker.state() == CircuitBreaker::State::open        ? "1"
                    : lane.breaker.state() == CircuitBreaker::State::half_open ? "0.5"
                                                                               : "0";
    out += "herald_gateway_breaker_open{gateway=\"" + lane.gateway->name() + "\"} " + v + "\n";
    inflight += "herald_gateway_in_flight{gateway=\"" + lane.gateway->name() + "\"} " +
                std::to_string(lane.in_flight) + "\n";
    throttled += "herald_gateway_throttled{gateway=\"" + lane.gateway->name() + "\"} " +
                 (now < lane.throttled_until_ms ? "1" : "0") + "\n";
  }
  out += inflight + throttled;
  if (control_)
    out += "# HELP herald_instance_lease_age_ms Since this instance last renewed its lease in the shared store.\n"
           "# TYPE herald_instance_lease_age_ms gauge\n"
           "herald_instance_lease_age_ms{instance=\"" + label_value(cfg_.store.instance) + "\"} " +
           std::to_string(steady_ms() - lease_renewed_ms_) + "\n";
  return out;
}

}  // namespace herald
