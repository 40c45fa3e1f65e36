#include "sms/http_json/http_json.hpp"

#include <boost/json.hpp>

#include "config/yaml_reader.hpp"
#include "net/url.hpp"

namespace json = boost::json;

namespace herald {

namespace {

std::string json_escaped(const std::string& s) {
  std::string quoted = json::serialize(json::value(s));
  return quoted.substr(1, quoted.size() - 2);
}

// A scalar at `pointer` as text ("" when absent).
std::string text_at(const json::value& v, const std::string& pointer) {
  json::error_code ec;
  const json::value* p = v.find_pointer(pointer, ec);
  if (!p || ec) return {};
  if (p->is_string()) return std::string(p->get_string());
  if (p->is_null()) return {};
  return json::serialize(*p);
}

}  // namespace

std::string HttpJsonGateway::expand(const std::string& tmpl, const OutboundMessage& m,
                                    bool escape) const {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    size_t open = tmpl.find("{{", i);
    if (open == std::string::npos) {
      out.append(tmpl, i);
      break;
    }
    size_t close = tmpl.find("}}", open);
    if (close == std::string::npos) {
      out.append(tmpl, i);
      break;
    }
    out.append(tmpl, i, open - i);
    std::string key = tmpl.substr(open + 2, close - open - 2);
    std::string value;
    if (key == "to") value = m.address;
    else if (key == "to_msisdn") value = m.address.rfind('+', 0) == 0 ? m.address.substr(1) : m.address;
    else if (key == "to_national")
      value = m.address.rfind("+84", 0) == 0 ? "0" + m.address.substr(3) : m.address;
    else if (key == "text") value = m.text;
    else if (key == "token") value = m.token;
    else if (key == "receipt_url") value = m.receipt_url;
    else if (key == "delivery_id") value = std::to_string(m.delivery_id);
    else if (key == "coding") value = m.coding == SmsCoding::ucs2 ? "ucs2" : "gsm7";
    else if (key.rfind("secret.", 0) == 0) {
      auto it = secrets.find(key.substr(7));
      if (it != secrets.end()) value = it->second.reveal();
    }
    out += escape ? json_escaped(value) : value;
    i = close + 2;
  }
  return out;
}

net::HttpRequest HttpJsonGateway::build(const OutboundMessage& m) const {
  net::HttpRequest req;
  req.method = method;
  req.url = expand(url, m, false);
  req.timeout_ms = limits_.timeout_ms;
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.headers.push_back(k + ": " + expand(v, m, false));
    if (strcasecmp(k.c_str(), "content-type") == 0) has_type = true;
  }
  if (!has_type) req.headers.push_back("Content-Type: application/json; charset=utf-8");
  req.headers.push_back("Expect:");  // no 100-continue round trip
  req.body = expand(body, m, true);
  return req;
}

SendResult HttpJsonGateway::parse(const net::HttpResponse& r) const {
  SendResult out;
  if (r.result != CURLE_OK) {
    out.error = transport_error(r);
    return out;
  }
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  std::string provider_text = ec ? r.body.substr(0, 200) : text_at(v, error_pointer);
  std::string code = "http_" + std::to_string(r.status);
  if (r.status == 429) {
    out.error = {SendErrorKind::throttled, code, provider_text};
    return out;
  }
  if (r.status >= 500) {
    out.error = {SendErrorKind::server_error, code, provider_text};
    return out;
  }
  if (r.status == 401 || r.status == 403) {
    out.error = {SendErrorKind::auth_failed, code, provider_text};
    return out;
  }
  if (!permanent_pointer.empty() && !ec) {
    std::string pc = text_at(v, permanent_pointer);
    for (const auto& p : permanent_values)
      if (pc == p) {
        out.error = {SendErrorKind::rejected_number, "provider_" + pc, provider_text};
        return out;
      }
  }
  if (r.status >= 400) {
    out.error = {SendErrorKind::bad_request, code, provider_text};
    return out;
  }
  if (!success_pointer.empty()) {
    std::string got = ec ? std::string() : text_at(v, success_pointer);
    if (got != success_value) {
      out.error = {SendErrorKind::unknown, "provider_" + (got.empty() ? std::string("no_status") : got),
                   provider_text};
      return out;
    }
  }
  if (!id_pointer.empty() && !ec) out.provider_ref = text_at(v, id_pointer);
  return out;
}

ReceiptParse HttpJsonGateway::parse_receipt(const InboundCallback& cb) const {
  auto field = [&](const std::string& where, const json::value* body) -> std::string {
    if (where.empty()) return {};
    if (where[0] == '/') return body ? text_at(*body, where) : std::string();
    if (auto it = cb.query.find(where); it != cb.query.end()) return it->second;
    return {};
  };
  json::value parsed;
  const json::value* body = nullptr;
  if (!cb.body.empty() && cb.content_type.find("json") != std::string::npos) {
    json::error_code ec;
    parsed = json::parse(cb.body, ec);
    if (ec) return {std::nullopt, "callback body is not JSON"};
    body = &parsed;
  }
  std::string status = field(receipt_status, body);
  if (status.empty()) return {std::nullopt, "callback carries no status"};
  auto it = receipt_map.find(status);
  if (it == receipt_map.end()) return {std::nullopt, "unknown status " + status.substr(0, 50)};
  ReceiptUpdate u;
  u.state = it->second;
  u.status = status;

  u.provider_ref = field(receipt_id, body);
  if (u.state == DeliveryState::failed || u.state == DeliveryState::expired)
    u.error_code = "provider_" + status;
  return {u, {}};
}

std::unique_ptr<Gateway> HttpJsonGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<HttpJsonGateway>();
  g->name_ = name;
  Diagnostics& d = r.diag();
  if (auto v = r.string("url", true)) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      d.error(r.child("url").Mark(), "url must be an http(s) URL");
    g->url = *v;
  }
  if (auto v = r.string("method")) {
    if (*v != "POST" && *v != "PUT" && *v != "GET") d.error(r.child("method").Mark(), "method must be POST, PUT or GET");
    else g->method = *v;
  }
  if (YAML::Node h = r.child("headers"); h.IsDefined()) {
    MapReader hr(h, d, "headers");
    if (hr.is_map())
      for (const auto& kv : h) {
        auto v = hr.string(kv.first.Scalar());
        if (v) g->headers.emplace_back(kv.first.Scalar(), *v);
      }
  }
  if (YAML::Node s = r.child("secrets"); s.IsDefined()) {
    MapReader sr(s, d, "secrets");
    if (sr.is_map())
      for (const auto& kv : s)
        if (auto v = sr.secret(kv.first.Scalar(), true)) g->secrets[kv.first.Scalar()] = *v;
  }
  if (auto v = r.string("body", true)) {
    // The template must become valid JSON once placeholders are filled.
    OutboundMessage probe;
    probe.address = "+84912000000";
    probe.text = "probe";
    json::error_code ec;
    json::parse(g->expand(*v, probe, true), ec);
    if (ec) d.error(r.child("body").Mark(), "body is not a JSON template: " + ec.message());
    g->body = *v;
  }
  if (YAML::Node resp = r.child("response"); resp.IsDefined()) {
    MapReader rr(resp, d, "response");
    if (rr.is_map()) {
      g->success_pointer = rr.string("success_pointer").value_or("");
      g->success_value = rr.string("success_value").value_or("");
      g->id_pointer = rr.string("id_pointer").value_or("");
      g->error_pointer = rr.string("error_pointer").value_or("");
      g->permanent_pointer = rr.string("permanent_pointer").value_or("");
      g->permanent_values = rr.string_list("permanent_values").value_or(std::vector<std::string>{});
      for (const auto* p : {&g->success_pointer, &g->id_pointer, &g->error_pointer, &g->permanent_pointer})
        if (!p->empty() && (*p)[0] != '/') d.error(resp.Mark(), "response pointers must be JSON pointers such as /status");
      rr.finish();
    }
  }
  if (YAML::Node rec = r.child("receipt"); rec.IsDefined()) {
    MapReader rr(rec, d, "receipt");
    if (rr.is_map()) {
      g->receipt_status = rr.string("status", true).value_or("");
      g->receipt_id = rr.string("id").value_or("");
      if (YAML::Node m = rr.child("map", true); m.IsDefined()) {
        MapReader mr(m, d, "receipt.map");
        if (mr.is_map())
          for (const auto& kv : m) {
            auto v = mr.string(kv.first.Scalar());
            if (!v) continue;
            auto st = parse_state(*v);
            if (!st || (*st != DeliveryState::sent && *st != DeliveryState::delivered &&
                        *st != DeliveryState::failed && *st != DeliveryState::expired))
              d.error(m[kv.first.Scalar()].Mark(), "receipt state must be sent, delivered, failed or expired");
            else
              g->receipt_map[kv.first.Scalar()] = *st;
          }
      }
      rr.finish();
    }
  }
  read_common(r, *g);
  return g;
}

}  // namespace herald
