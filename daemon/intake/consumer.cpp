#include "intake/consumer.hpp"
#include "core/thread_name.hpp"

#include <sys/time.h>

#include <algorithm>
#include <random>

#include "core/log.hpp"

namespace herald {

void DirectiveConsumer::start() {
  stopping_ = false;
  thread_ = std::thread([this] {
    name_this_thread("herald-intake");
    run();
  });
}

void DirectiveConsumer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DirectiveConsumer::pause(int64_t ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_.load(); });
  return !stopping_;
}

void DirectiveConsumer::connect() {
  consume_.open(cfg_, "heraldd consumer");
  consume_.declare_topology();
  amqp_basic_qos(consume_.state(), 1, /*prefetch_size=*/0,
                 static_cast<uint16_t>(cfg_.prefetch), /*global=*/0);
  consume_.check("basic.qos");
  amqp_basic_consume(consume_.state(), 1, amqp_cstring_bytes(amqp::kQueue), amqp_empty_bytes,
                     /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  consume_.check("basic.consume");
}

void DirectiveConsumer::run() {
  std::mt19937_64 rng(std::random_device{}());
  int64_t backoff = cfg_.reconnect_initial_ms;
  while (!stopping_) {
    try {
      connect();
      ++metrics_.broker_connects;
      metrics_.broker_connected = true;
      log::info("connected to broker ", cfg_.host, ":", cfg_.port, " vhost ", cfg_.vhost,
                ", consuming ", amqp::kQueue);
      backoff = cfg_.reconnect_initial_ms;
      if (on_consuming_) on_consuming_();
      consume_loop();
    } catch (const amqp::Error& e) {
      if (!stopping_) log::warning("broker: ", e.what());
    }
    bool was_connected = metrics_.broker_connected.exchange(false);
    consume_.close();
    publish_.close();
    if (stopping_) break;
    // Full jitter keeps many daemons from reconnecting in lockstep after a broker restart.
    int64_t wait = std::uniform_int_distribution<int64_t>(backoff / 2, backoff)(rng);
    log::info(was_connected ? "lost broker; " : "", "reconnecting in ", wait, " ms");
    if (!pause(wait)) break;
    backoff = std::min(backoff * 2, cfg_.reconnect_max_ms);
  }
  metrics_.broker_connected = false;
}

void DirectiveConsumer::consume_loop() {
  while (!stopping_) {
    amqp_maybe_release_buffers(consume_.state());
    amqp_envelope_t envelope;
    timeval timeout{1, 0};  // wake each second to notice stop()
    amqp_rpc_reply_t r = amqp_consume_message(consume_.state(), &envelope, &timeout, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      try {
        handle(envelope);
      } catch (...) {
        amqp_destroy_envelope(&envelope);
        throw;
      }
      amqp_destroy_envelope(&envelope);
      continue;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
      continue;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // A method other than basic.deliver arrived: a close means reconnect.
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(consume_.state(), &frame) != AMQP_STATUS_OK)
        throw amqp::Error("connection lost");
      if (frame.frame_type == AMQP_FRAME_METHOD &&
          (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
           frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
           frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD))
        throw amqp::Error("broker closed the consumer (method " +
                          std::to_string(frame.payload.method.id) + ")");
      continue;
    }
    consume_.check(r, "basic.consume");
  }
}

void DirectiveConsumer::handle(amqp_envelope_t& envelope) {
  std::string body = amqp::to_string(envelope.message.body);
  const uint64_t tag = envelope.delivery_tag;
  IntakeResult result = intake_.take(body);
  switch (result.kind) {
    case IntakeResult::Kind::committed:
    case IntakeResult::Kind::duplicate:
      break;
    case IntakeResult::Kind::rejected:
      if (!dead_letter(envelope, result.reason)) {
        // Not yet safely in the DLQ: hand it back and reconnect rather than lose it.
        amqp_basic_nack(consume_.state(), 1, tag, /*multiple=*/0, /*requeue=*/1);
        throw amqp::Error("could not dead-letter a rejected directive");
      }
      break;
    case IntakeResult::Kind::retry:
      amqp_basic_nack(consume_.state(), 1, tag, /*multiple=*/0, /*requeue=*/1);
      pause(std::min<int64_t>(cfg_.reconnect_max_ms, 2000));
      return;
  }
  if (int rc = amqp_basic_ack(consume_.state(), 1, tag, /*multiple=*/0); rc != AMQP_STATUS_OK)
    throw amqp::Error(std::string("basic.ack: ") + amqp_error_string2(rc));
}

bool DirectiveConsumer::dead_letter(const amqp_envelope_t& envelope, const std::string& reason) {
  amqp::Message m;
  m.body = amqp::to_string(envelope.message.body);
  m.routing_key = amqp::to_string(envelope.routing_key);
  const auto& p = envelope.message.properties;
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) m.message_id = amqp::to_string(p.message_id);
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) m.content_type = amqp::to_string(p.content_type);
  // Headers are text; cap the reason so a huge error list cannot exceed the frame size.
  m.headers[amqp::kErrorHeader] = reason.size() > 4000 ? reason.substr(0, 4000) + "..." : reason;
  m.headers["x-herald-original-exchange"] = amqp::to_string(envelope.exchange);
  try {
    if (!publish_.is_open()) {
      // Opened on first need and without heartbeats: it sits idle between rejects, and
      // nothing reads from it then to answer heartbeats. A dead socket shows up as a
      // publish error, and the next reject opens a fresh connection.
      BrokerConfig quiet = cfg_;
      quiet.heartbeat_s = 0;
      publish_.open(quiet, "heraldd dead-letter publisher");
      publish_.enable_confirms();
    }
    auto r = publish_.publish_confirmed(amqp::kDeadExchange, m, 10000);
    if (r == amqp::PublishResult::confirmed) return true;
    log::error("dead-lettering failed (", static_cast<int>(r), ")");
  } catch (const amqp::Error& e) {
    log::error("dead-lettering failed: ", e.what());
  }
  publish_.close();
  return false;
}

}  // namespace herald
