#pragma once
// The directive consumer: its own thread owns the rabbitmq-c connections, takes
// directives from herald.directives and acks each only after intake committed it.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "intake/amqp.hpp"
#include "intake/intake.hpp"

namespace herald {

class DirectiveConsumer {
 public:
  DirectiveConsumer(const BrokerConfig& cfg, Intake& intake, Metrics& metrics)
      : cfg_(cfg), intake_(intake), metrics_(metrics) {}
  ~DirectiveConsumer() { stop(); }

  /// Called on the consumer thread each time consuming (re)starts.
  void on_consuming(std::function<void()> fn) { on_consuming_ = std::move(fn); }

  void start();
  /// Prompt: the consume loop wakes at least once a second to notice.
  void stop();
  bool connected() const { return metrics_.broker_connected; }

 private:
  void run();
  void connect();
  void consume_loop();
  void handle(amqp_envelope_t& envelope);
  /// Copies the message to herald.dead with the reason in x-herald-error, confirmed.
  bool dead_letter(const amqp_envelope_t& envelope, const std::string& reason);
  /// Sleeps up to `ms`, returning early on stop(); false when stopping.
  bool pause(int64_t ms);

  const BrokerConfig& cfg_;
  Intake& intake_;
  Metrics& metrics_;
  std::function<void()> on_consuming_;
  amqp::Connection consume_;
  amqp::Connection publish_;  // for dead letters: keeps confirms apart from deliveries
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace herald
