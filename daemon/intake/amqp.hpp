#pragma once
// One AMQP 0-9-1 connection (rabbitmq-c), owned by one thread: connect, declare Herald's
// topology, publish with confirms. Not thread-safe, like the C library under it.
#include <amqp.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace herald::amqp {

inline constexpr const char* kExchange = "herald.directives";
inline constexpr const char* kQueue = "herald.directives";
inline constexpr const char* kDeadExchange = "herald.dead";
inline constexpr const char* kDeadQueue = "herald.directives.dead";
inline constexpr const char* kErrorHeader = "x-herald-error";

/// The connection broke or the broker refused an operation; reconnect to go on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Message {
  std::string body;
  std::string routing_key;
  std::string message_id;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  bool persistent = true;
};

enum class PublishResult { confirmed, nacked, unroutable, timeout };

class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Opens socket, logs in (with heartbeats) and opens channel 1. Throws Error.
  void open(const BrokerConfig& cfg, const std::string& connection_name);
  void close() noexcept;
  bool is_open() const { return conn_ != nullptr; }
  amqp_connection_state_t state() const { return conn_; }

  /// Declares the exchanges, queues and bindings of docs/architecture.md ("Reconnecting");
  /// idempotent.
  void declare_topology();
  /// Puts channel 1 into publisher-confirm mode.
  void enable_confirms();
  /// Publishes (mandatory) and waits for the broker's confirm. Needs enable_confirms().
  PublishResult publish_confirmed(const std::string& exchange, const Message& m, int timeout_ms);

  /// Throws Error describing a failed RPC reply (channel/connection close, library error).
  void check(const char* what);
  void check(amqp_rpc_reply_t reply, const char* what);

 private:
  amqp_connection_state_t conn_ = nullptr;
  uint64_t next_tag_ = 1;
};

std::string to_string(amqp_bytes_t b);
amqp_bytes_t bytes(const std::string& s);
/// A header's value as text (string or integer kinds), if present.
std::optional<std::string> header(const amqp_basic_properties_t& p, const std::string& key);

}  // namespace herald::amqp
