#include "http/server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <list>
#include <mutex>

#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/log.hpp"
#include "core/time.hpp"
#include "http/file_body.hpp"

namespace herald::http {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The sessions waiting for a request, oldest first: at the connection cap, the oldest is
// closed to make room, so clients that hold connections open cannot lock out a gateway's
// callback.
struct IdleSessions {
  std::mutex mu;
  std::list<std::weak_ptr<Session>> list;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpConfig& cfg, ApiContext& ctx, std::shared_ptr<std::atomic<int>> open,
          std::shared_ptr<IdleSessions> idle)
      : stream_(std::move(socket)), cfg_(cfg), ctx_(ctx), open_(std::move(open)), idle_(std::move(idle)) {
    beast::error_code ec;
    const auto remote = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : remote.address().to_string();
    ++*open_;
  }
  ~Session() {
    busy();
    --*open_;
  }

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::await, shared_from_this()));
  }

  /// Closes the connection if it is still waiting for a request (from any thread).
  void evict() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->waiting_) {
        self->stream_.cancel();
        self->evicted_ = true;
      }
    });
  }

 private:
  // Waits for the next request's first bytes, at most http.idle_timeout (a connection that
  // sends nothing holds a descriptor for nothing), then reads it whole within read_timeout.
  void await() {
    if (buffer_.size() > 0) return read();  // pipelined: the next request is here already
    waiting_ = true;
    idle();
    stream_.expires_after(std::chrono::milliseconds(cfg_.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(8192), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->waiting_ = false;
      self->busy();
      if (ec || self->evicted_) return self->close();
      self->buffer_.commit(n);
      self->read();
    });
  }

  void idle() {
    std::lock_guard lock(idle_->mu);
    if (!idle_at_) idle_at_ = idle_->list.insert(idle_->list.end(), weak_from_this());
  }
  void busy() {
    std::lock_guard lock(idle_->mu);
    if (idle_at_) idle_->list.erase(*idle_at_);
    idle_at_.reset();
  }
  friend class Server;

  void read() {
    parser_.emplace();
    parser_->body_limit(cfg_.body_limit);
    parser_->header_limit(16 * 1024);
    // One deadline for the whole request: a slow client cannot hold a connection open.
    stream_.expires_after(std::chrono::milliseconds(cfg_.read_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    if (ec) {
      // Oversized or malformed request: say so, then close.
      Request req;
      bhttp::status status = ec == bhttp::error::body_limit || ec == bhttp::error::header_limit
                                 ? bhttp::status::payload_too_large
                                 : bhttp::status::bad_request;
      Response res{status, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = std::string("{\"error\":\"") + (status == bhttp::status::bad_request ? "bad request" : "request too large") + "\"}";
      res.keep_alive(false);
      res.prepare_payload();
      return write(std::move(res));
    }
    Request released = parser_->release();
    // Who is asking, for the API's login throttle: never what the client says it is.
    released.erase(kPeerHeader);
    released.set(kPeerHeader, peer_);
    auto req = std::make_shared<const Request>(std::move(released));
    const bool head = req->method() == bhttp::verb::head;
    // A receipt is answered once committed, later on this loop; the session reads its
    // next request only after writing this answer.
    handle_request_async(std::move(req), ctx_, [self = shared_from_this(), head](Reply&& reply) {
      auto out = std::make_shared<Reply>(std::move(reply));
      if (head) {
        // The headers a GET would get, no body: a file is not even opened.
        if (auto* f = std::get_if<FileResponse>(out.get())) {
          Response res = std::move(f->head);
          res.content_length(f->length);
          *out = std::move(res);
        } else {
          std::get<Response>(*out).body().clear();
        }
      }
      asio::dispatch(self->stream_.get_executor(), [self, out]() mutable {
        if (auto* f = std::get_if<FileResponse>(out.get())) return self->write_file(std::move(*f));
        self->write(std::move(std::get<Response>(*out)));
      });
    });
  }

  void write(Response&& res) {
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::milliseconds(cfg_.read_timeout_ms));
    bhttp::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, size_t) {
      if (ec || !sp->keep_alive()) return self->close();
      self->await();
    });
  }

  // A file's slice, from disk a few kilobytes at a time. The deadline grows with the
  // slice (the read timeout, plus a second per 16 KiB: a phone on a slow link gets there);
  // a client that stops reading is cut off at it, having cost a buffer and a descriptor.
  void write_file(FileResponse&& f) {
    beast::error_code ec;
    auto msg = std::make_shared<bhttp::response<FileSliceBody>>(std::piecewise_construct, std::make_tuple(),
                                                                std::make_tuple(f.head.result(), f.head.version()));
    msg->body().file.open(f.path.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      Response res{bhttp::status::not_found, f.head.version()};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = "{\"error\":\"no such audio\"}";
      res.keep_alive(f.head.keep_alive());
      res.prepare_payload();
      return write(std::move(res));
    }
    for (const auto& field : f.head) msg->set(field.name_string(), field.value());
    msg->keep_alive(f.head.keep_alive());
    msg->body().offset = f.offset;
    msg->body().length = f.length;
    msg->prepare_payload();
    // The kernel keeps at most this much of a download queued for the client (the default
    // grows to megabytes on a fast link): a client that stops reading holds the rest back
    // in the file, not in memory, and the download keeps its slot until it ends.
    stream_.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024), ec);
    stream_.expires_after(std::chrono::milliseconds(cfg_.read_timeout_ms) +
                          std::chrono::seconds(static_cast<int64_t>(f.length / 16384)));
    bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg, hold = std::move(f.hold)](beast::error_code e, size_t) {
      if (e || !msg->keep_alive()) return self->close();
      self->await();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const HttpConfig& cfg_;
  ApiContext& ctx_;
  std::shared_ptr<std::atomic<int>> open_;
  std::shared_ptr<IdleSessions> idle_;
  std::optional<std::list<std::weak_ptr<Session>>::iterator> idle_at_;  // under idle_->mu
  std::string peer_;       // the client's address
  bool waiting_ = false;  // on the strand
  bool evicted_ = false;
};

int connection_cap(int configured, uint64_t nofile, int reserved) {
  if (nofile == 0 || nofile >= static_cast<uint64_t>(configured) + static_cast<uint64_t>(reserved)) return configured;
  const int64_t room = static_cast<int64_t>(nofile) - reserved;
  return static_cast<int>(std::max<int64_t>(16, room));
}

Server::Server(asio::io_context& io, const HttpConfig& cfg, ApiContext& ctx)
    : io_(io), cfg_(cfg), ctx_(ctx), acceptor_(asio::make_strand(io)), retry_(io),
      idle_(std::make_shared<IdleSessions>()) {}

Server::~Server() = default;

void Server::start() {
  // Each connection is a descriptor, and so is each send in flight, the broker's and the
  // store's connections, the log and the audio files: the cap leaves room for those below
  // the process's limit (systemd's LimitNOFILE), so a flood of clients cannot make sends
  // or the broker's reconnection fail with EMFILE.
  int reserved = 64;
  if (ctx_.gateways)
    for (const auto& [name, g] : *ctx_.gateways) reserved += g->limits().concurrency;
  rlimit rl{};
  const uint64_t nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 0;
  cap_ = connection_cap(cfg_.max_connections, nofile, reserved);
  if (cap_ < cfg_.max_connections)
    log::warning("HTTP: at most ", cap_, " connections, not http.max_connections ", cfg_.max_connections,
                 ": the descriptor limit is ", nofile, " and ", reserved,
                 " are kept for sends, the broker and the store (raise LimitNOFILE)");
  tcp::endpoint ep(asio::ip::make_address(cfg_.address), static_cast<unsigned short>(cfg_.port));
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  log::info("HTTP listening on ", cfg_.address, ":", port());
  accept();
}

void Server::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
}

unsigned short Server::port() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void Server::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (EMFILE) and the like: the pending connection stays in the
      // backlog; try again shortly rather than spin.
      log::warning("HTTP accept: ", ec.message(), "; retrying in 100 ms");
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    if (open_->load() >= cap_ && !evict_oldest_idle()) {
      // Every connection is in the middle of a request: the new one is closed; the ones
      // open finish, or their read deadline ends them.
      const int64_t now = now_ms();
      if (now - refused_logged_ms_ >= 60'000) {
        refused_logged_ms_ = now;
        log::warning("HTTP: ", cap_, " connections open, all busy; closing new ones");
      }
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), cfg_, ctx_, open_, idle_)->run();
    }
    accept();
  });
}

bool Server::evict_oldest_idle() {
  std::shared_ptr<Session> victim;
  {
    std::lock_guard lock(idle_->mu);
    while (!idle_->list.empty() && !victim) {
      victim = idle_->list.front().lock();
      if (victim) victim->idle_at_.reset();
      idle_->list.pop_front();
    }
  }
  if (!victim) return false;
  ++evicted_;
  const int64_t now = now_ms();
  if (now - evicted_logged_ms_ >= 60'000) {
    evicted_logged_ms_ = now;
    log::warning("HTTP: ", cap_, " connections open; closing the longest idle to make room (",
                 evicted_.load(), " so far)");
  }
  victim->evict();
  return true;
}

}  // namespace herald::http
