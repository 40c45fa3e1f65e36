// Which handler answers which URL. Health, readiness and metrics are answered here.
#include <boost/json.hpp>
#include <boost/url.hpp>

#include "http/api.hpp"

namespace json = boost::json;

namespace herald::http {

namespace {

// Everything but the provider hooks: answered at once.
Response handle_now(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs,
                    const boost::urls::url_view& url) {
  if (!segs.empty() && segs[0] == "api" && segs.size() >= 2 && segs[1] == "v1")
    return handle_api(req, ctx, segs, url.params());
  if (!segs.empty() && segs[0] == "feeds") return handle_feeds(req, ctx, segs);
  if (segs.size() == 2 && segs[0] == "ack") return handle_ack(req, ctx, segs[1]);
  if (!segs.empty() && segs[0] == "dashboard") return handle_dashboard(req, segs);
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head)
    return json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
  const std::string path(url.path());
  if (path == "/healthz") return make_reply(req, bhttp::status::ok, "ok\n", "text/plain");
  if (path == "/readyz") {
    const bool broker = ctx.broker_connected();
    // The store answers reads, and takes writes (the writer's last batch got in).
    const bool store = ctx.store.ping() && !(ctx.writer && ctx.writer->unavailable());
    json::object o{{"ready", broker && store}, {"broker", broker}, {"store", store}};
    return make_reply(req, broker && store ? bhttp::status::ok : bhttp::status::service_unavailable,
                      json::serialize(o));
  }
  if (path == "/metrics") return make_reply(req, bhttp::status::ok, metrics_text(ctx), "text/plain; version=0.0.4");
  return json_reply(req, bhttp::status::not_found, {{"error", "no such resource"}});
}

}  // namespace

void handle_request_async(std::shared_ptr<const Request> req, ApiContext& ctx, Respond respond) {
  auto url = boost::urls::parse_origin_form(req->target());
  if (!url) return respond(json_reply(*req, bhttp::status::bad_request, {{"error", "malformed request target"}}));
  std::vector<std::string> segs;
  for (auto seg : url->segments()) segs.emplace_back(seg);
  try {
    if (!segs.empty() && segs[0] == "hooks") {
      // A provider's shared webhook (/hooks/zalo), or a callback about one delivery.
      if (segs.size() == 2) return handle_webhook(std::move(req), ctx, segs[1], std::move(respond));
      std::map<std::string, std::string> query;
      for (auto p : url->params()) query[std::string(p.key)] = std::string(p.value);
      return handle_hook(std::move(req), ctx, segs, query, std::move(respond));
    }
    respond(handle_now(*req, ctx, segs, *url));
  } catch (const StoreError&) {
    respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
  }
}

Response handle_request(const Request& req, ApiContext& ctx) {
  std::optional<Response> out;
  handle_request_async(std::make_shared<const Request>(req), ctx, [&out](Response&& res) { out = std::move(res); });
  if (!out)  // a context with a store writer answers receipts later: handle_request_async()
    return json_reply(req, bhttp::status::internal_server_error, {{"error", "answered later"}});
  return std::move(*out);
}

}  // namespace herald::http
