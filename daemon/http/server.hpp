#pragma once
// The HTTP listener: accepts connections and runs each as a session on its own strand,
// with a body limit and a read deadline; requests go to handle_request().
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <memory>

#include "http/api.hpp"

namespace herald::http {

class Server {
 public:
  Server(boost::asio::io_context& io, const HttpConfig& cfg, ApiContext& ctx);
  /// Binds and starts accepting; throws boost::system::system_error on bind failure.
  void start();
  void stop();
  unsigned short port() const;

 private:
  void accept();

  boost::asio::io_context& io_;
  const HttpConfig& cfg_;
  ApiContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // accept again after an error (EMFILE: no busy loop)
  std::shared_ptr<std::atomic<int>> open_ = std::make_shared<std::atomic<int>>(0);  // sessions alive
  int64_t refused_logged_ms_ = 0;
};

}  // namespace herald::http
