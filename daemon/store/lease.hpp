#pragma once
// This instance's part in a store several heraldd share (PostgreSQL): its lease, renewed
// every third of the lease on a thread of its own, so that nothing the event loop or the
// store writer waits for can let it run out; the claims of instances whose lease ran out,
// taken over as due work; and each rate-limited gateway's share of the rate all the
// instances have together (SharedRate), asked for on the same thread.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald {

class Lease {
 public:
  /// `resume_grace_ms`: how long claims taken over wait for receipts before they are sent again.
  Lease(LeaseStore& store, StoreWriter& writer, boost::asio::io_context& loop, Metrics& metrics, std::string instance,
        int64_t lease_ms, int64_t resume_grace_ms);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  /// Starts renewing: `renewed` runs on the event loop after each renewal that succeeded,
  /// `taken_over` after claims of another instance became due work here.
  void start(std::function<void()> renewed, std::function<void()> taken_over);
  /// No more renewals (a clean stop: the lease then runs out on its own).
  void stop();
  /// True while this instance may send: its lease was renewed within half the lease, so no
  /// other instance can have taken its claims over.
  bool held() const;
  /// Since the last renewal that succeeded was asked for.
  int64_t silent_ms() const;
  int64_t lease_ms() const { return lease_ms_; }
  /// The Prometheus lines about the lease.
  std::string metrics_text() const;

 private:
  friend class SharedRate;
  void tick();
  /// Milliseconds on the monotonic clock (the lease must not follow the wall clock's steps).
  static int64_t steady_ms();

  LeaseStore& store_;
  StoreWriter& writer_;
  boost::asio::io_context& loop_;
  Metrics& metrics_;
  const std::string instance_;
  const int64_t lease_ms_;
  const int64_t resume_grace_ms_;
  std::function<void()> renewed_, taken_over_;
  boost::asio::thread_pool control_{1};  // the lease and the rate requests: never behind the loop
  boost::asio::steady_timer timer_{control_.get_executor()};
  std::atomic<int64_t> renewed_ms_;  // when the last renewal that succeeded was asked for (steady_ms)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> taking_over_{false};
};

/// A rate-limited gateway's share of its rate, which every instance on the store takes
/// from together: a token bucket in the store, refilled on its clock. The instance asks
/// for a fifth of a second's sends at a time, from a bucket holding half a second's.
class SharedRate {
 public:
  SharedRate(Lease& lease, std::string gateway, double rate_per_s) : lease_(lease), gateway_(std::move(gateway)), rate_(rate_per_s) {}

  /// Sends granted and not yet made.
  int64_t available() const { return tokens_; }
  void take() { --tokens_; }
  /// Asks the store for more when running low (one request at a time, not before
  /// next_ask_ms() after a short answer); `granted` runs on the event loop with the answer.
  void top_up(int64_t now_ms, std::function<void()> granted);
  bool asking() const { return asking_; }
  int64_t next_ask_ms() const { return ask_at_ms_; }

 private:
  Lease& lease_;
  const std::string gateway_;
  const double rate_;
  int64_t tokens_ = 0;
  bool asking_ = false;
  int64_t ask_at_ms_ = 0;
};

}  // namespace herald
