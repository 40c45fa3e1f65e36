#pragma once
// Routes one HTTP request to a response without touching a socket (pure w.r.t. I/O):
// health, readiness, metrics and the admin API.
#include <functional>
#include <map>
#include <memory>

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>

#include "core/compare.hpp"
#include "config/config.hpp"
#include "gateway.hpp"
#include "core/metrics.hpp"
#include "intake/intake.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald::loudspeaker { class Announcer; }

namespace herald::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct ApiContext {
  Store& store;
  Metrics& metrics;
  const HttpConfig& config;
  std::function<bool()> broker_connected;
  /// Gateways by name, for provider callbacks under /hooks/.
  const std::map<std::string, std::shared_ptr<Gateway>>* gateways = nullptr;
  /// More Prometheus text appended to /metrics (the dispatcher's gateway gauges).
  std::function<std::string()> extra_metrics;
  /// For the CAP feed and the spoken audio under /feeds/ (absent: 404).
  const Config* app_config = nullptr;
  std::function<std::shared_ptr<const Directory>()> directory;
  loudspeaker::Announcer* announcer = nullptr;
  /// Signs and checks /ack/<token> links; empty: ack links are off.
  std::string ack_secret;
  /// New deliveries were queued by a request (a help message, a replay): wake the dispatcher.
  std::function<void()> on_queued;
  /// Takes a directive in as the broker consumer does (POST /api/v1/directives).
  std::function<IntakeResult(std::string_view)> publish;
  /// Reloads the directory file; the errors (FILE:LINE:COL: message) when it is refused.
  std::function<std::vector<std::string>()> reload_directory;
  /// Receipts are recorded through it, off the event loop and in batches (absent: inline).
  StoreWriter* writer = nullptr;
};

/// /dashboard/ and its files (dashboard.cpp).
Response handle_dashboard(const Request& req, const std::vector<std::string>& segs);

/// /ack/<token> (ack.cpp).
Response handle_ack(const Request& req, ApiContext& ctx, const std::string& token);

/// /feeds/cap.atom, /feeds/cap/<id>.xml, /feeds/cap/<id>.cancel.xml, /feeds/audio/<key>.mp3
/// (feeds.cpp).
Response handle_feeds(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs);

/// /hooks/<channel>/<gateway>/<token>: a provider's receipt for one delivery.
Response handle_hook(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs,
                     const std::map<std::string, std::string>& query);

/// /hooks/zalo: the Zalo OA's signed webhook events (zalo_hook.cpp).
Response handle_zalo_hook(const Request& req, ApiContext& ctx);

Response handle_request(const Request& req, ApiContext& ctx);

/// Like handle_request, but may answer later: receipts go through ctx.writer, and
/// `respond` runs on the event loop once they are committed. Everything else is answered
/// before this returns.
void handle_request_async(std::shared_ptr<const Request> req, ApiContext& ctx, std::function<void(Response&&)> respond);

/// The async form of handle_hook for receipts; false when this request is not one it
/// takes (an MO, no writer), and `respond` was not called.
bool handle_hook_async(std::shared_ptr<const Request> req, ApiContext& ctx, const std::vector<std::string>& segs,
                       const std::map<std::string, std::string>& query, std::function<void(Response&&)> respond);

/// A JSON answer to `req` (keep-alive as the request asks).
Response json_reply(const Request& req, bhttp::status status, const boost::json::object& body);

}  // namespace herald::http
