#include "http/server.hpp"

#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/log.hpp"
#include "core/time.hpp"

namespace herald::http {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpConfig& cfg, ApiContext& ctx, std::shared_ptr<std::atomic<int>> open)
      : stream_(std::move(socket)), cfg_(cfg), ctx_(ctx), open_(std::move(open)) {
    ++*open_;
  }
  ~Session() { --*open_; }

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
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
    auto req = std::make_shared<const Request>(parser_->release());
    const bool head = req->method() == bhttp::verb::head;
    // A receipt is answered once committed, later on this loop; the session reads its
    // next request only after writing this answer.
    handle_request_async(std::move(req), ctx_, [self = shared_from_this(), head](Response&& res) {
      if (head) res.body().clear();
      asio::dispatch(self->stream_.get_executor(),
                     [self, res = std::make_shared<Response>(std::move(res))]() mutable { self->write(std::move(*res)); });
    });
  }

  void write(Response&& res) {
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::milliseconds(cfg_.read_timeout_ms));
    bhttp::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, size_t) {
      if (ec || !sp->keep_alive()) return self->close();
      self->read();
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
};

}  // namespace

Server::Server(asio::io_context& io, const HttpConfig& cfg, ApiContext& ctx)
    : io_(io), cfg_(cfg), ctx_(ctx), acceptor_(asio::make_strand(io)), retry_(io) {}

void Server::start() {
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
    if (open_->load() >= cfg_.max_connections) {
      // A flood of connections (or slow clients) must not take every descriptor: the
      // ones already open finish, or their read deadline ends them.
      const int64_t now = now_ms();
      if (now - refused_logged_ms_ >= 60'000) {
        refused_logged_ms_ = now;
        log::warning("HTTP: ", cfg_.max_connections, " connections open (http.max_connections); closing new ones");
      }
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), cfg_, ctx_, open_)->run();
    }
    accept();
  });
}

}  // namespace herald::http
