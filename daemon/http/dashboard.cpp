#include "http/dashboard.hpp"

#include "http/api.hpp"

namespace herald::http {

Response handle_dashboard(const Request& req, const std::vector<std::string>& segs) {
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head)
    return json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
  std::string_view body, type;
  const std::string file = segs.size() >= 2 ? segs[1] : "";
  if (segs.size() == 1 || file.empty() || file == "index.html") {
    body = kDashboardIndex;
    type = "text/html; charset=utf-8";
  } else if (segs.size() == 2 && file == "app.js") {
    body = kDashboardScript;
    type = "text/javascript; charset=utf-8";
  } else if (segs.size() == 2 && file == "style.css") {
    body = kDashboardStyle;
    type = "text/css; charset=utf-8";
  } else {
    return json_reply(req, bhttp::status::not_found, {{"error", "no such resource"}});
  }
  Response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::server, "heraldd");
  res.set(bhttp::field::content_type, type);
  res.set(bhttp::field::cache_control, "no-cache");
  // Only its own files and the API: no inline script, no framing, no third parties.
  res.set("Content-Security-Policy",
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.keep_alive(req.keep_alive());
  res.body() = std::string(body);
  res.prepare_payload();
  return res;
}

}  // namespace herald::http
