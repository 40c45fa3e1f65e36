#pragma once
// What heraldd answers over HTTP, without touching a socket (http/server.cpp reads and
// writes): each part of the URL space has its handler here, and handle_request_async()
// routes to them.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <variant>

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/url/params_view.hpp>

#include "core/compare.hpp"
#include "config/config.hpp"
#include "adapters/gateway.hpp"
#include "core/metrics.hpp"
#include "intake/intake.hpp"
#include "operations/operations.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald::loudspeaker { class Announcer; }

namespace herald::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

/// The most rows one page of a listing holds (?limit=).
inline constexpr size_t kPageMax = 1000;

/// The header the listener sets on every request to the client's address (one a client
/// sends itself is replaced).
inline constexpr std::string_view kPeerHeader = "X-Herald-Peer";

/// Failed admin logins by client address: each logged (the first, then every tenth), and
/// after kMaxFailures within kWindowMs the address gets 429 for kWindowMs, whatever token
/// it sends, so tokens cannot be guessed at speed.
class LoginThrottle {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr int64_t kWindowMs = 60'000;
  /// True while `peer` is shut out.
  bool blocked(const std::string& peer, int64_t now_ms);
  /// Counts a failure from `peer`; returns how many in the current window.
  int failed(const std::string& peer, int64_t now_ms);

 private:
  struct Entry {
    int64_t window_start = 0;
    int failures = 0;
    int64_t blocked_until = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> by_peer_;
};

/// An answer whose body is a slice of a file, sent from disk (http/file_body.hpp): `head`
/// has the status and every header but the length; `hold` is let go once the answer is
/// written or dropped (the client's download slot, DownloadSlots).
struct FileResponse {
  Response head;
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::shared_ptr<void> hold;
};

/// What a handler answers: a message in memory, or a file's slice.
using Reply = std::variant<Response, FileResponse>;

/// How a handler that may answer later (once the store writer has committed) answers:
/// exactly once, from any thread.
using Respond = std::function<void(Reply&&)>;

/// How many downloads (the feeds' audio files) each client address has under way; a new
/// one past the cap is refused (429), so that one address cannot hold the listener's
/// connections with slow or stalled downloads.
class DownloadSlots : public std::enable_shared_from_this<DownloadSlots> {
 public:
  explicit DownloadSlots(int per_address) : per_address_(per_address) {}
  /// A slot for `peer`, released when the last copy of the token is gone (the token keeps
  /// these slots alive: a download may end after the context that began it); nullptr when
  /// `peer` has per_address downloads under way. The slots must be held by a shared_ptr.
  std::shared_ptr<void> take(const std::string& peer);
  int per_address() const { return per_address_; }

 private:
  const int per_address_;
  std::mutex mu_;
  std::unordered_map<std::string, int> open_;
};

/// The Atom feed as last rendered, and the stamp of the store it was rendered from
/// (feeds.cpp): a poll that finds the store unchanged is answered from here.
struct FeedCache;
std::shared_ptr<FeedCache> make_feed_cache();

struct ApiContext {
  Store& store;
  Metrics& metrics;
  const HttpConfig& config;
  std::function<bool()> broker_connected;
  /// Gateways by name, for provider callbacks under /hooks/.
  const Gateways* gateways = nullptr;
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
  /// Takes a directive in as the broker consumer does (POST /api/v1/directives), on the
  /// intake's own thread; the result comes to the callback there.
  std::function<void(std::string body, std::function<void(IntakeResult)>)> publish;
  /// Reloads the directory file; the errors (FILE:LINE:COL: message) when it is refused.
  std::function<std::vector<std::string>()> reload_directory;
  /// Receipts and replies are recorded through it, off the event loop and in batches
  /// (absent, in unit tests: at once).
  StoreWriter* writer = nullptr;
  /// Cancels and replays, in batches (absent: those routes are 404).
  Operations* operations = nullptr;
  /// Where every request but /healthz and the provider hooks is answered: off the event
  /// loop, so that a slow store read, a large listing or a flood of feed requests never
  /// holds up timers, sends or receipts (absent, in unit tests: on the calling thread).
  boost::asio::thread_pool* workers = nullptr;
  std::shared_ptr<LoginThrottle> logins = std::make_shared<LoginThrottle>();
  /// Audio downloads under way by client address (http.downloads_per_address).
  std::shared_ptr<DownloadSlots> downloads = std::make_shared<DownloadSlots>(8);
  std::shared_ptr<FeedCache> feed_cache = make_feed_cache();
};

/// /dashboard/ and its files (dashboard.cpp).
Response handle_dashboard(const Request& req, const std::vector<std::string>& segs);

/// /ack/<token> (ack.cpp).
Response handle_ack(const Request& req, ApiContext& ctx, const std::string& token);

/// /feeds/cap.atom, /feeds/cap/<id>.xml, /feeds/cap/<id>.cancel.xml, /feeds/audio/<key>.mp3
/// (feeds.cpp).
Reply handle_feeds(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs);



/// /hooks/<channel>/<gateway>/<token> (a provider's receipt for one delivery) and
/// /hooks/<channel>/<gateway>/mo[/<mo_token>] (a reply) (hooks.cpp).
/// A callback as adapters read it: method, decoded query, body, content type and every
/// header (names lowercased).
InboundCallback callback_of(const Request& req, const std::map<std::string, std::string>& query = {});
void handle_hook(std::shared_ptr<const Request> req, ApiContext& ctx, const std::vector<std::string>& segs,
                 const std::map<std::string, std::string>& query, Respond respond);

/// /hooks/<name>: a provider's shared webhook, such as the Zalo OA's signed events (webhooks.cpp).
void handle_webhook(std::shared_ptr<const Request> req, ApiContext& ctx, const std::string& name, Respond respond);

/// /api/v1/... (api.cpp). Cancel, replay and publish answer once their first batch or the
/// intake is committed, from another thread.
void handle_api(std::shared_ptr<const Request> req, ApiContext& ctx, const std::vector<std::string>& segs,
                const boost::urls::params_view& params, Respond respond);

/// /metrics: Prometheus text (metrics.cpp). `loop_part`: what only the event loop may read
/// (the dispatcher's gauges), taken there before the rest is read from the store.
std::string metrics_text(ApiContext& ctx, const std::string& loop_part);

/// Routes a request (router.cpp). /healthz is answered on the spot; receipts and replies
/// go through ctx.writer and are answered once committed; everything else is answered on
/// ctx.workers (or at once without them).
void handle_request_async(std::shared_ptr<const Request> req, ApiContext& ctx, Respond respond);

/// The same, answered before it returns: for a context without a store writer (tests).
Response handle_request(const Request& req, ApiContext& ctx);

/// An answer to `req` (keep-alive as the request asks, never cached).
Response make_reply(const Request& req, bhttp::status status, std::string body,
                    std::string_view content_type = "application/json");

/// A JSON answer to `req` (keep-alive as the request asks).
Response json_reply(const Request& req, bhttp::status status, const boost::json::object& body);

}  // namespace herald::http
