#pragma once
// Routes one HTTP request to a response without touching a socket (pure w.r.t. I/O):
// health, readiness, metrics and the admin API.
#include <functional>

#include <boost/beast/http.hpp>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "store/store.hpp"

namespace herald::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct ApiContext {
  Store& store;
  Metrics& metrics;
  const HttpConfig& config;
  std::function<bool()> broker_connected;
};

Response handle_request(const Request& req, ApiContext& ctx);

/// Constant-time comparison for tokens (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace herald::http
