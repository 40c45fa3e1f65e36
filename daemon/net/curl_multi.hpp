#pragma once
// The outbound I/O engine: one libcurl multi handle driven by the Asio event loop
// (curl_multi_socket_action with socket and timer callbacks). Every adapter's HTTP or
// SMTP request goes through it, so connections are reused and nothing blocks the loop.
#include <curl/curl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/http.hpp"

namespace herald::net {

class CurlMulti {
 public:
  using Done = std::function<void(HttpResponse&&)>;

  explicit CurlMulti(boost::asio::io_context& io, long max_host_connections = 64);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  /// Starts a request; `done` runs on the io_context thread when it ends, successfully
  /// or not (it is never called from inside perform()).
  void perform(HttpRequest request, Done done);
  size_t in_flight() const { return live_.size(); }

 private:
  struct Transfer;
  struct Socket {
    std::unique_ptr<boost::asio::ip::tcp::socket> socket;
    int want = 0;  // CURL_POLL_* libcurl asked for
    bool reading = false, writing = false;
  };

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void*);
  static int on_timer(CURLM*, long timeout_ms, void* self);
  static curl_socket_t on_open(void* self, curlsocktype purpose, curl_sockaddr* addr);
  static int on_close(void* self, curl_socket_t fd);

  CURL* acquire_easy();
  void release_easy(CURL* e);
  void arm(curl_socket_t fd);
  void action(curl_socket_t fd, int flags);
  void collect_finished();

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  // libcurl asks for a new timeout on nearly every state change of every transfer. Each
  // re-arm of an Asio timer is a timerfd_settime system call, which at thousands of
  // transfers a second cost more than the transfers: the timer is only moved earlier,
  // and "at once" is a posted handler. An early wake-up is harmless (libcurl then asks
  // for the time left).
  bool timer_armed_ = false;
  std::chrono::steady_clock::time_point timer_at_{};
  bool timeout_posted_ = false;
  CURLM* multi_;
  std::unordered_map<curl_socket_t, Socket> sockets_;
  std::unordered_set<Transfer*> live_;
  std::vector<CURL*> idle_;  // easy handles kept for reuse
};

}  // namespace herald::net
