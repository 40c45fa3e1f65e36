// Which handler answers which URL. Health, readiness and metrics are answered here.
#include <fstream>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>

#include "http/api.hpp"

namespace json = boost::json;

namespace herald::http {

namespace {

// Everything but the provider hooks and /healthz: on a worker (or at once, in tests).
void handle_off_loop(std::shared_ptr<const Request> req, ApiContext& ctx, const std::string& loop_metrics,
                     Respond respond) {
  auto url = boost::urls::parse_origin_form(req->target());
  std::vector<std::string> segs;
  for (auto seg : url->segments()) segs.emplace_back(seg);
  if (!segs.empty() && segs[0] == "api" && segs.size() >= 2 && segs[1] == "v1")
    return handle_api(std::move(req), ctx, segs, url->params(), std::move(respond));
  if (!segs.empty() && segs[0] == "feeds") return respond(handle_feeds(*req, ctx, segs));
  if (segs.size() == 2 && segs[0] == "ack") return respond(handle_ack(*req, ctx, segs[1]));
  if (!segs.empty() && segs[0] == "dashboard") return respond(handle_dashboard(*req, segs));
  if (req->method() != bhttp::verb::get && req->method() != bhttp::verb::head)
    return respond(json_reply(*req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}}));
  const std::string path(url->path());
  if (path == "/readyz") {
    const bool broker = ctx.broker_connected();
    // The store answers reads, and takes writes (the writer's last batch got in).
    const bool store = ctx.store.ping() && !(ctx.writer && ctx.writer->unavailable());
    json::object o{{"ready", broker && store}, {"broker", broker}, {"store", store}};
    return respond(make_reply(*req, broker && store ? bhttp::status::ok : bhttp::status::service_unavailable,
                              json::serialize(o)));
  }
  if (path == "/metrics")
    return respond(make_reply(*req, bhttp::status::ok, metrics_text(ctx, loop_metrics), "text/plain; version=0.0.4"));
  respond(json_reply(*req, bhttp::status::not_found, {{"error", "no such resource"}}));
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
  } catch (const StoreError&) {
    return respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
  }
  // Liveness is the loop's own answer: it says the loop turns.
  if (url->path() == "/healthz" && (req->method() == bhttp::verb::get || req->method() == bhttp::verb::head))
    return respond(make_reply(*req, bhttp::status::ok, "ok\n", "text/plain"));
  std::string loop_metrics;
  if (url->path() == "/metrics" && ctx.extra_metrics) loop_metrics = ctx.extra_metrics();
  auto work = [req, &ctx, loop_metrics = std::move(loop_metrics), respond = std::move(respond)]() mutable {
    try {
      handle_off_loop(req, ctx, loop_metrics, respond);
    } catch (const StoreError&) {
      respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
    }
  };
  if (ctx.workers) boost::asio::post(*ctx.workers, std::move(work));
  else work();
}

Response handle_request(const Request& req, ApiContext& ctx) {
  std::optional<Response> out;
  handle_request_async(std::make_shared<const Request>(req), ctx, [&out](Reply&& reply) {
    if (auto* r = std::get_if<Response>(&reply)) {
      out = std::move(*r);
      return;
    }
    // A file's slice, read into the body: what the client would have received.
    auto& f = std::get<FileResponse>(reply);
    Response res = std::move(f.head);
    std::ifstream in(f.path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(f.offset));
    res.body().resize(f.length);
    in.read(res.body().data(), static_cast<std::streamsize>(f.length));
    res.body().resize(static_cast<size_t>(in.gcount()));
    res.prepare_payload();
    out = std::move(res);
  });
  if (!out)  // a context with a store writer answers receipts later: handle_request_async()
    return json_reply(req, bhttp::status::internal_server_error, {{"error", "answered later"}});
  return std::move(*out);
}

}  // namespace herald::http
