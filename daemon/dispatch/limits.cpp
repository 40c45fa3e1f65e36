#include "dispatch/limits.hpp"

#include <cmath>

namespace herald {

void TokenBucket::refill(int64_t now_ms) {
  if (last_ms_ < 0) last_ms_ = now_ms;
  if (now_ms > last_ms_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
    last_ms_ = now_ms;
  }
}

int64_t TokenBucket::available(int64_t now_ms) {
  if (unlimited()) return INT64_MAX;
  refill(now_ms);
  return static_cast<int64_t>(std::floor(tokens_));
}

int64_t TokenBucket::wait_ms(int64_t now_ms) {
  if (unlimited()) return 0;
  refill(now_ms);
  if (tokens_ >= 1) return 0;
  return static_cast<int64_t>(std::ceil((1 - tokens_) * 1000.0 / rate_));
}

int CircuitBreaker::allowance(int64_t now_ms, int in_flight, int cap) {
  if (state_ == State::open) {
    if (now_ms < open_until_ms_) return 0;
    state_ = State::half_open;
  }
  if (state_ == State::half_open) return in_flight == 0 ? 1 : 0;
  return std::max(0, cap - in_flight);
}

void CircuitBreaker::on_success() {
  state_ = State::closed;
  consecutive_ = 0;
}

bool CircuitBreaker::on_failure(int64_t now_ms) {
  ++consecutive_;
  if (state_ == State::half_open || (state_ == State::closed && consecutive_ >= threshold_)) {
    state_ = State::open;
    open_until_ms_ = now_ms + cooldown_ms_;
    return true;
  }
  return false;
}

const char* CircuitBreaker::state_name() const {
  switch (state_) {
    case State::closed: return "closed";
    case State::open: return "open";
    case State::half_open: return "half_open";
  }
  return "?";
}

}  // namespace herald
