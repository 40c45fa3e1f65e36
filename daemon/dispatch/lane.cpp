#include "dispatch/lane.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace herald {

Lane::Lane(Channel c, std::shared_ptr<Gateway> g, Credentials cr, Lease* lease)
    : channel(c),
      gateway(std::move(g)),
      bucket(gateway->limits().rate_per_s, gateway->limits().rate_per_s),
      breaker(gateway->limits().breaker_failures, gateway->limits().breaker_cooldown_ms),
      credentials(std::move(cr)) {
  if (lease && !bucket.unlimited()) shared_rate.emplace(*lease, gateway->name(), gateway->limits().rate_per_s);
}

int64_t Lane::allowance(int64_t now, int64_t& wake, const std::function<void()>& granted) {
  int64_t allowed = breaker.allowance(now, in_flight, gateway->limits().concurrency);
  allowed = std::min<int64_t>(allowed, int64_t{unconfirmed_cap()} - in_flight - unconfirmed);
  if (now < throttled_until_ms) {
    allowed = 0;
    wake = std::min(wake, throttled_until_ms - now);
  }
  if (allowed > 0 && !bucket.unlimited()) allowed = std::min(allowed, bucket.available(now));
  if (shared_rate && allowed > 0 && !ready.empty()) {
    shared_rate->top_up(now, granted);
    allowed = std::min(allowed, shared_rate->available());
    if (allowed <= 0 && !shared_rate->asking()) wake = std::min(wake, std::max<int64_t>(shared_rate->next_ask_ms() - now, 1));
  }
  return allowed;
}

void Lane::sending_one() {
  if (!bucket.unlimited()) bucket.take(1);
  if (shared_rate) shared_rate->take();
}

void Lane::failed(const SendError& e, int64_t throttle_until_ms, int64_t now) {
  if (e.counts_against_gateway() && breaker.on_failure(now))
    log::warning("gateway ", gateway->name(), ": circuit breaker open for ", gateway->limits().breaker_cooldown_ms,
                 " ms after ", to_string(e.kind));
  if (throttle_until_ms > throttled_until_ms) {
    if (now >= throttled_until_ms)
      log::warning("gateway ", gateway->name(), ": throttled by the provider; no sends for ", throttle_until_ms - now,
                   " ms");
    throttled_until_ms = throttle_until_ms;
  }
}

size_t Lane::prefetch(int64_t batch) const {
  const GatewayLimits& l = gateway->limits();
  int64_t n = int64_t{l.concurrency} * 8;
  // A rate-limited gateway: a quarter of a second's sends.
  if (!bucket.unlimited()) n = std::min<int64_t>(n, std::max<int64_t>(1, static_cast<int64_t>(l.rate_per_s / 4)));
  // Half-open: the probe alone.
  if (breaker.state() == CircuitBreaker::State::half_open) n = 1;
  return static_cast<size_t>(std::clamp<int64_t>(n, 1, std::max<int64_t>(1, batch)));
}

std::string lanes_metrics_text(const std::list<Lane>& lanes, int64_t now) {
  std::string out =
      "# HELP herald_gateway_breaker_open Whether the gateway's circuit breaker is open (1) or half-open (0.5).\n"
      "# TYPE herald_gateway_breaker_open gauge\n";
  std::string inflight = "# HELP herald_gateway_in_flight Sends awaiting the gateway's answer.\n"
                         "# TYPE herald_gateway_in_flight gauge\n";
  std::string throttled = "# HELP herald_gateway_throttled Whether the provider's 429 has the gateway paused (1).\n"
                          "# TYPE herald_gateway_throttled gauge\n";
  for (const Lane& lane : lanes) {
    const char* v = lane.breaker.state() == CircuitBreaker::State::open        ? "1"
                    : lane.breaker.state() == CircuitBreaker::State::half_open ? "0.5"
                                                                               : "0";
    out += "herald_gateway_breaker_open{gateway=\"" + lane.gateway->name() + "\"} " + v + "\n";
    inflight += "herald_gateway_in_flight{gateway=\"" + lane.gateway->name() + "\"} " +
                std::to_string(lane.in_flight) + "\n";
    throttled += "herald_gateway_throttled{gateway=\"" + lane.gateway->name() + "\"} " +
                 (now < lane.throttled_until_ms ? "1" : "0") + "\n";
  }
  return out + inflight + throttled;
}

}  // namespace herald
