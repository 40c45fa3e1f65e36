#pragma once
// Per-gateway flow control: a token bucket (messages/s), and a circuit breaker that stops
// sending to a gateway that keeps failing, then probes it with one message.
#include <algorithm>
#include <cstdint>

namespace herald {

class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst) : rate_(rate_per_s), burst_(std::max(1.0, burst)), tokens_(burst_) {}
  bool unlimited() const { return rate_ <= 0; }
  /// Whole tokens available at `now_ms`.
  int64_t available(int64_t now_ms);
  void take(int64_t n) { tokens_ -= static_cast<double>(n); }
  /// Milliseconds until one token is available (0 when one is).
  int64_t wait_ms(int64_t now_ms);

 private:
  void refill(int64_t now_ms);
  double rate_, burst_, tokens_;
  int64_t last_ms_ = -1;
};

class CircuitBreaker {
 public:
  enum class State { closed, open, half_open };
  CircuitBreaker(int failures_to_open, int64_t cooldown_ms)
      : threshold_(failures_to_open), cooldown_ms_(cooldown_ms) {}

  /// How many sends may start now, given how many are in flight (half-open: one probe).
  int allowance(int64_t now_ms, int in_flight, int cap);
  void on_success();
  /// Returns true when this failure opened the breaker.
  bool on_failure(int64_t now_ms);
  State state() const { return state_; }
  int64_t reopens_at_ms() const { return open_until_ms_; }
  const char* state_name() const;

 private:
  int threshold_;
  int64_t cooldown_ms_;
  State state_ = State::closed;
  int consecutive_ = 0;
  int64_t open_until_ms_ = 0;
};

}  // namespace herald
