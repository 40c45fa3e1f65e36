// State transitions, backoff, rate limit and breaker: the dispatcher's rules.
#include <gtest/gtest.h>

#include <random>

#include "core/transition.hpp"
#include "dispatch/retry.hpp"
#include "dispatch/limits.hpp"

namespace herald {
namespace {

using S = DeliveryState;

TEST(Transition, ReceiptsMoveOnlyForward) {
  EXPECT_TRUE(transition_allowed(S::sending, S::sent, Cause::receipt));
  EXPECT_TRUE(transition_allowed(S::sent, S::delivered, Cause::receipt));
  EXPECT_TRUE(transition_allowed(S::sending, S::delivered, Cause::receipt));  // DLR before the HTTP answer
  EXPECT_FALSE(transition_allowed(S::delivered, S::sent, Cause::receipt));    // late "sent"
  EXPECT_FALSE(transition_allowed(S::delivered, S::failed, Cause::receipt));  // one segment failed
  EXPECT_TRUE(transition_allowed(S::failed, S::delivered, Cause::receipt));   // another got through
  EXPECT_TRUE(transition_allowed(S::sent, S::failed, Cause::receipt));
  EXPECT_TRUE(transition_allowed(S::sent, S::expired, Cause::receipt));
  EXPECT_FALSE(transition_allowed(S::cancelled, S::delivered, Cause::receipt));
  EXPECT_TRUE(transition_allowed(S::retrying, S::delivered, Cause::receipt));  // after recovery
  EXPECT_FALSE(transition_allowed(S::acknowledged, S::read, Cause::receipt));
}

TEST(Transition, GatewayAnswersOnlySettleASendInFlight) {
  EXPECT_TRUE(transition_allowed(S::sending, S::sent, Cause::gateway_accepted));
  EXPECT_FALSE(transition_allowed(S::delivered, S::sent, Cause::gateway_accepted));
  EXPECT_FALSE(transition_allowed(S::delivered, S::retrying, Cause::gateway_retry));
  EXPECT_TRUE(transition_allowed(S::queued, S::sending, Cause::send_started));
  EXPECT_TRUE(transition_allowed(S::retrying, S::sending, Cause::send_started));
  EXPECT_FALSE(transition_allowed(S::sent, S::sending, Cause::send_started));
  EXPECT_TRUE(transition_allowed(S::sending, S::retrying, Cause::recovery));
  EXPECT_FALSE(transition_allowed(S::sent, S::retrying, Cause::recovery));
}

TEST(Backoff, FullJitterWithinACappedExponentialCeiling) {
  std::mt19937_64 rng(42);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    int64_t ceiling = std::min<int64_t>(60000, 1000LL << (attempt - 1));
    int64_t max_seen = 0;
    for (int i = 0; i < 500; ++i) {
      int64_t d = retry::backoff_ms(attempt, 1000, 60000, rng);
      ASSERT_GE(d, 0);
      ASSERT_LE(d, ceiling);
      max_seen = std::max(max_seen, d);
    }
    EXPECT_GT(max_seen, ceiling / 2) << "jitter should spread over the whole range";
  }
}

TEST(TokenBucket, RefillsAtTheConfiguredRate) {
  TokenBucket b(10, 10);
  EXPECT_EQ(b.available(0), 10);
  b.take(10);
  EXPECT_EQ(b.available(0), 0);
  EXPECT_EQ(b.wait_ms(0), 100);
  EXPECT_EQ(b.available(250), 2);
  EXPECT_EQ(b.available(10000), 10);  // never above the burst
  TokenBucket unlimited(0, 0);
  EXPECT_TRUE(unlimited.unlimited());
}

TEST(CircuitBreaker, OpensHalfOpensAndCloses) {
  CircuitBreaker cb(3, 1000);
  EXPECT_EQ(cb.allowance(0, 0, 8), 8);
  EXPECT_FALSE(cb.on_failure(0));
  EXPECT_FALSE(cb.on_failure(0));
  EXPECT_TRUE(cb.on_failure(0));
  EXPECT_EQ(cb.state(), CircuitBreaker::State::open);
  EXPECT_EQ(cb.allowance(999, 0, 8), 0);
  EXPECT_EQ(cb.allowance(1000, 0, 8), 1);  // one probe
  EXPECT_EQ(cb.state(), CircuitBreaker::State::half_open);
  EXPECT_EQ(cb.allowance(1000, 1, 8), 0);  // while the probe is out
  EXPECT_TRUE(cb.on_failure(1000));        // failed probe: open again
  EXPECT_EQ(cb.allowance(1500, 0, 8), 0);
  EXPECT_EQ(cb.allowance(2000, 0, 8), 1);
  cb.on_success();
  EXPECT_EQ(cb.state(), CircuitBreaker::State::closed);
  EXPECT_EQ(cb.allowance(2000, 2, 8), 6);
}

}  // namespace
}  // namespace herald
