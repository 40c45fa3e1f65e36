#include "intake/amqp.hpp"

#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <chrono>
#include <vector>

namespace herald::amqp {

std::string to_string(amqp_bytes_t b) {
  return b.bytes ? std::string(static_cast<const char*>(b.bytes), b.len) : std::string();
}

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::optional<std::string> header(const amqp_basic_properties_t& p, const std::string& key) {
  if (!(p._flags & AMQP_BASIC_HEADERS_FLAG)) return std::nullopt;
  for (int i = 0; i < p.headers.num_entries; ++i) {
    const amqp_table_entry_t& e = p.headers.entries[i];
    if (to_string(e.key) != key) continue;
    switch (e.value.kind) {
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES: return to_string(e.value.value.bytes);
      case AMQP_FIELD_KIND_I64: return std::to_string(e.value.value.i64);
      case AMQP_FIELD_KIND_I32: return std::to_string(e.value.value.i32);
      default: return std::string();
    }
  }
  return std::nullopt;
}

Connection::~Connection() { close(); }

void Connection::check(amqp_rpc_reply_t r, const char* what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return;
    case AMQP_RESPONSE_NONE: throw Error(std::string(what) + ": missing RPC reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw Error(std::string(what) + ": " + amqp_error_string2(r.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        throw Error(std::string(what) + ": connection closed by broker: " +
                    std::to_string(m->reply_code) + " " + to_string(m->reply_text));
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        throw Error(std::string(what) + ": channel closed by broker: " +
                    std::to_string(m->reply_code) + " " + to_string(m->reply_text));
      }
      throw Error(std::string(what) + ": unexpected broker method " + std::to_string(r.reply.id));
  }
}

void Connection::check(const char* what) { check(amqp_get_rpc_reply(conn_), what); }

void Connection::open(const BrokerConfig& cfg, const std::string& connection_name) {
  close();
  conn_ = amqp_new_connection();
  if (!conn_) throw Error("out of memory creating AMQP connection");
  amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
  if (!socket) {
    close();
    throw Error("cannot create TCP socket");
  }
  timeval tv{static_cast<time_t>(cfg.connect_timeout_ms / 1000),
             static_cast<suseconds_t>((cfg.connect_timeout_ms % 1000) * 1000)};
  amqp_set_handshake_timeout(conn_, &tv);
  amqp_set_rpc_timeout(conn_, &tv);
  if (int rc = amqp_socket_open_noblock(socket, cfg.host.c_str(), cfg.port, &tv); rc != AMQP_STATUS_OK) {
    close();
    throw Error("cannot connect to " + cfg.host + ":" + std::to_string(cfg.port) + ": " +
                amqp_error_string2(rc));
  }
  amqp_table_entry_t props[1];
  props[0].key = amqp_cstring_bytes("connection_name");
  props[0].value.kind = AMQP_FIELD_KIND_UTF8;
  props[0].value.value.bytes = bytes(connection_name);
  amqp_table_t table{1, props};
  amqp_rpc_reply_t r = amqp_login_with_properties(
      conn_, cfg.vhost.c_str(), /*channel_max=*/0, /*frame_max=*/131072, cfg.heartbeat_s, &table,
      AMQP_SASL_METHOD_PLAIN, cfg.user.c_str(), cfg.password.reveal().c_str());
  try {
    check(r, "login");
    amqp_channel_open(conn_, 1);
    check("channel.open");
  } catch (...) {
    close();
    throw;
  }
  next_tag_ = 1;
}

void Connection::close() noexcept {
  if (!conn_) return;
  // Best effort: the peer may already be gone.
  amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
}

void Connection::declare_topology() {
  auto declare_exchange = [&](const char* name, const char* type) {
    amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
                          /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                          amqp_empty_table);
    check("exchange.declare");
  };
  auto declare_quorum_queue = [&](const char* name, const char* dead_letter_exchange) {
    std::vector<amqp_table_entry_t> args(1);
    args[0].key = amqp_cstring_bytes("x-queue-type");
    args[0].value.kind = AMQP_FIELD_KIND_UTF8;
    args[0].value.value.bytes = amqp_cstring_bytes("quorum");
    if (dead_letter_exchange) {
      amqp_table_entry_t dlx;
      dlx.key = amqp_cstring_bytes("x-dead-letter-exchange");
      dlx.value.kind = AMQP_FIELD_KIND_UTF8;
      dlx.value.value.bytes = amqp_cstring_bytes(dead_letter_exchange);
      args.push_back(dlx);
    }
    amqp_table_t table{static_cast<int>(args.size()), args.data()};
    amqp_queue_declare(conn_, 1, amqp_cstring_bytes(name), /*passive=*/0, /*durable=*/1,
                       /*exclusive=*/0, /*auto_delete=*/0, table);
    check("queue.declare");
  };
  auto bind = [&](const char* queue, const char* exchange) {
    amqp_queue_bind(conn_, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes("#"), amqp_empty_table);
    check("queue.bind");
  };
  declare_exchange(kExchange, "topic");
  declare_exchange(kDeadExchange, "topic");
  declare_quorum_queue(kQueue, kDeadExchange);
  declare_quorum_queue(kDeadQueue, nullptr);
  bind(kQueue, kExchange);
  bind(kDeadQueue, kDeadExchange);
}

void Connection::enable_confirms() {
  amqp_confirm_select(conn_, 1);
  check("confirm.select");
}

PublishResult Connection::publish_confirmed(const std::string& exchange, const Message& m,
                                            int timeout_ms) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes(m.content_type.c_str());
  props.delivery_mode = m.persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
  if (!m.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes(m.message_id);
  }
  std::vector<amqp_table_entry_t> headers;
  for (const auto& [k, v] : m.headers) {
    amqp_table_entry_t e;
    e.key = bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes(v);
    headers.push_back(e);
  }
  if (!headers.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = amqp_table_t{static_cast<int>(headers.size()), headers.data()};
  }
  int rc = amqp_basic_publish(conn_, 1, amqp_cstring_bytes(exchange.c_str()), bytes(m.routing_key),
                              /*mandatory=*/1, /*immediate=*/0, &props, bytes(m.body));
  if (rc != AMQP_STATUS_OK) throw Error(std::string("basic.publish: ") + amqp_error_string2(rc));
  const uint64_t tag = next_tag_++;

  bool returned = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return PublishResult::timeout;
    timeval tv{static_cast<time_t>(left.count() / 1000000),
               static_cast<suseconds_t>(left.count() % 1000000)};
    amqp_frame_t frame;
    amqp_maybe_release_buffers(conn_);
    rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return PublishResult::timeout;
    if (rc != AMQP_STATUS_OK) throw Error(std::string("waiting for confirm: ") + amqp_error_string2(rc));
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        if (ack->delivery_tag == tag || (ack->multiple && ack->delivery_tag >= tag))
          return returned ? PublishResult::unroutable : PublishResult::confirmed;
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        if (nack->delivery_tag == tag || (nack->multiple && nack->delivery_tag >= tag))
          return PublishResult::nacked;
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // The returned message's header and body frames follow; read and drop them.
        amqp_message_t returned_msg;
        check(amqp_read_message(conn_, frame.channel, &returned_msg, 0), "basic.return");
        amqp_destroy_message(&returned_msg);
        returned = true;
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
        throw Error("broker closed the channel while publishing");
      default:
        break;
    }
  }
}

}  // namespace herald::amqp
