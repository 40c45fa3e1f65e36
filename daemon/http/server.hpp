#pragma once
// The HTTP listener: accepts connections and runs each as a session on its own strand,
// with a body limit, an idle deadline (waiting for a request) and a read deadline (reading
// one); requests go to handle_request(). The number of connections is capped below the
// descriptor limit, and at the cap the longest-idle connection makes room for a new one.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <memory>

#include "http/api.hpp"

namespace herald::http {

class Session;
struct IdleSessions;

/// How many connections the listener keeps open: `configured` (http.max_connections),
/// lowered so that `reserved` descriptors stay free below the process's `nofile` limit
/// (0: unknown or unlimited), and never below 16.
int connection_cap(int configured, uint64_t nofile, int reserved);

class Server {
 public:
  Server(boost::asio::io_context& io, const HttpConfig& cfg, ApiContext& ctx);
  ~Server();
  /// Binds and starts accepting; throws boost::system::system_error on bind failure.
  void start();
  void stop();
  unsigned short port() const;
  /// Connections closed while idle to make room for new ones.
  uint64_t evicted() const { return evicted_.load(); }

 private:
  void accept();
  bool evict_oldest_idle();

  boost::asio::io_context& io_;
  const HttpConfig& cfg_;
  ApiContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // accept again after an error (EMFILE: no busy loop)
  std::shared_ptr<std::atomic<int>> open_ = std::make_shared<std::atomic<int>>(0);  // sessions alive
  std::shared_ptr<IdleSessions> idle_;
  int cap_ = 0;  // connection_cap(), set by start()
  std::atomic<uint64_t> evicted_{0};
  int64_t refused_logged_ms_ = 0;
  int64_t evicted_logged_ms_ = 0;
};

}  // namespace herald::http
