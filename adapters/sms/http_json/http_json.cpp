#include "sms/http_json/http_json.hpp"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <set>

#include <boost/json.hpp>

#include "settings/yaml_reader.hpp"
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

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The fields of an application/x-www-form-urlencoded body.
std::map<std::string, std::string> form_fields(const std::string& body) {
  std::map<std::string, std::string> out;
  for (size_t start = 0; start <= body.size();) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    std::string_view pair(body.data() + start, amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      out.emplace(net::percent_decode(pair.substr(0, eq)),
                  eq == std::string_view::npos ? std::string() : net::percent_decode(pair.substr(eq + 1)));
    }
    start = amp + 1;
  }
  return out;
}

// Reports each {{placeholder}} expand() does not know: a typo such as {{txet}} would
// otherwise send every message with that part empty.
void check_placeholders(const std::string& tmpl, const std::set<std::string>& secret_names,
                        const std::vector<std::string_view>& kKnown, Diagnostics& d,
                        const YAML::Mark& at, const std::string& what) {
  for (size_t open = tmpl.find("{{"); open != std::string::npos; open = tmpl.find("{{", open + 2)) {
    size_t close = tmpl.find("}}", open);
    if (close == std::string::npos) return;
    std::string key = tmpl.substr(open + 2, close - open - 2);
    bool known = key.rfind("secret.", 0) == 0
                     ? secret_names.count(key.substr(7)) > 0
                     : std::find(kKnown.begin(), kKnown.end(), key) != kKnown.end();
    if (!known)
      d.error(at, what + ": unknown placeholder {{" + key + "}}" +
                      (key.rfind("secret.", 0) == 0 ? " (no such entry under secrets)" : ""));
  }
}

}  // namespace

std::vector<std::string_view> HttpJsonGateway::placeholders() const {
  return {"to", "to_msisdn", "to_national", "text", "token", "receipt_url", "delivery_id", "coding"};
}

std::string HttpJsonGateway::expand(const std::string& tmpl, const OutboundMessage& m,
                                    bool escape) const {
  return expand(tmpl, m, escape, nullptr);
}

std::string HttpJsonGateway::expand(const std::string& tmpl, const OutboundMessage& m, bool escape,
                                    const Values& extra) const {
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
    std::optional<std::string> own = extra ? extra(key) : std::nullopt;
    if (own) value = std::move(*own);
    else if (key == "to") value = m.address;
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

net::HttpRequest HttpJsonGateway::build(const OutboundMessage& m) const { return build_request(m, nullptr); }

net::HttpRequest HttpJsonGateway::build_request(const OutboundMessage& m, const Values& extra) const {
  net::HttpRequest req;
  req.method = method;
  req.url = expand(url, m, false, extra);
  req.timeout_ms = limits_.timeout_ms;
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.headers.push_back(k + ": " + expand(v, m, false, extra));
    if (strcasecmp(k.c_str(), "content-type") == 0) has_type = true;
  }
  if (!has_type) req.headers.push_back("Content-Type: application/json; charset=utf-8");
  req.headers.push_back("Expect:");  // no 100-continue round trip
  req.body = expand(body, m, true, extra);
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

std::optional<InboundReply> HttpJsonGateway::parse_mo(const InboundCallback& cb) const {
  if (mo_from.empty()) return std::nullopt;
  json::value parsed;
  std::map<std::string, std::string> form;
  const std::string type = lowercase(cb.content_type);
  if (!cb.body.empty() && type.find("json") != std::string::npos) {
    json::error_code ec;
    parsed = json::parse(cb.body, ec);
    if (ec) return std::nullopt;
  } else if (!cb.body.empty() && type.find("application/x-www-form-urlencoded") != std::string::npos) {
    form = form_fields(cb.body);
  }
  auto field = [&](const std::string& where) -> std::string {
    if (where[0] == '/') return parsed.is_null() ? std::string() : text_at(parsed, where);
    if (auto it = cb.query.find(where); it != cb.query.end()) return it->second;
    if (auto it = form.find(where); it != form.end()) return it->second;
    return {};
  };
  InboundReply r{field(mo_from), mo_text.empty() ? std::string() : field(mo_text)};
  if (r.from.empty()) return std::nullopt;
  return r;
}

ReceiptParse HttpJsonGateway::parse_receipt(const InboundCallback& cb) const {
  json::value parsed;
  const json::value* body = nullptr;
  const std::string type = lowercase(cb.content_type);
  std::map<std::string, std::string> form;
  if (!cb.body.empty() && type.find("json") != std::string::npos) {
    json::error_code ec;
    parsed = json::parse(cb.body, ec);
    if (ec) return {std::nullopt, "callback body is not JSON"};
    body = &parsed;
  } else if (!cb.body.empty() && type.find("application/x-www-form-urlencoded") != std::string::npos) {
    form = form_fields(cb.body);
  }
  // "/pointer" reads the JSON body; a plain name reads the query, then a posted form.
  auto field = [&](const std::string& where) -> std::string {
    if (where.empty()) return {};
    if (where[0] == '/') return body ? text_at(*body, where) : std::string();
    if (auto it = cb.query.find(where); it != cb.query.end()) return it->second;
    if (auto it = form.find(where); it != form.end()) return it->second;
    return {};
  };
  std::string status = field(receipt_status);
  if (status.empty()) return {std::nullopt, "callback carries no status"};
  auto it = receipt_map.find(status);
  if (it == receipt_map.end()) return {std::nullopt, "unknown status " + status.substr(0, 50)};
  ReceiptUpdate u;
  u.state = it->second;
  u.status = status;

  u.provider_ref = field(receipt_id);
  u.detail = field(receipt_reason).substr(0, 500);
  if (u.state == DeliveryState::failed || u.state == DeliveryState::expired)
    u.error_code = "provider_" + status;
  return {u, {}};
}

std::unique_ptr<Gateway> HttpJsonGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<HttpJsonGateway>();
  read_settings(*g, name, r);
  return g;
}

void HttpJsonGateway::read_settings(HttpJsonGateway& gw, const std::string& name, MapReader& r) {
  HttpJsonGateway* g = &gw;
  g->name_ = name;
  Diagnostics& d = r.diag();
  if (auto v = r.string("url", true)) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      d.error(r.child("url").Mark(), r.what() + ".url must be an http(s) URL");
    g->url = *v;
  }
  if (auto v = r.string("method")) {
    if (*v != "POST" && *v != "PUT" && *v != "GET")
      d.error(r.child("method").Mark(), r.what() + ".method must be POST, PUT or GET");
    else g->method = *v;
  }
  std::vector<YAML::Mark> header_marks;
  if (YAML::Node h = r.child("headers"); h.IsDefined()) {
    MapReader hr(h, d, r.what() + ".headers", r.mark("headers"));
    if (hr.is_map())
      for (const auto& kv : h) {
        auto v = hr.string(kv.first.Scalar());
        if (!v) continue;
        g->headers.emplace_back(kv.first.Scalar(), *v);
        header_marks.push_back(hr.mark(kv.first.Scalar()));
      }
  }
  std::set<std::string> secret_names;  // declared, whether or not they resolved
  if (YAML::Node s = r.child("secrets"); s.IsDefined()) {
    MapReader sr(s, d, r.what() + ".secrets", r.mark("secrets"));
    if (sr.is_map())
      for (const auto& kv : s) {
        secret_names.insert(kv.first.Scalar());
        if (auto v = sr.secret(kv.first.Scalar(), true)) g->secrets[kv.first.Scalar()] = *v;
      }
  }
  const std::string fallback_body = g->default_body();
  if (auto v = r.string("body", fallback_body.empty())) {
    // The template must become valid JSON once placeholders are filled.
    OutboundMessage probe;
    probe.address = "+84912000000";
    probe.text = "probe";
    json::error_code ec;
    json::parse(g->expand(*v, probe, true, g->probe_values()), ec);
    if (ec) d.error(r.child("body").Mark(), r.what() + ".body is not a JSON template: " + ec.message());
    g->body = *v;
  } else if (!fallback_body.empty()) {
    g->body = fallback_body;
  }
  if (YAML::Node resp = r.child("response"); resp.IsDefined()) {
    MapReader rr(resp, d, r.what() + ".response", r.mark("response"));
    if (rr.is_map()) {
      g->success_pointer = rr.string("success_pointer").value_or("");
      g->success_value = rr.string("success_value").value_or("");
      g->id_pointer = rr.string("id_pointer").value_or("");
      g->error_pointer = rr.string("error_pointer").value_or("");
      g->permanent_pointer = rr.string("permanent_pointer").value_or("");
      g->permanent_values = rr.string_list("permanent_values").value_or(std::vector<std::string>{});
      const std::pair<const char*, const std::string*> pointers[] = {
          {"success_pointer", &g->success_pointer}, {"id_pointer", &g->id_pointer},
          {"error_pointer", &g->error_pointer}, {"permanent_pointer", &g->permanent_pointer}};
      for (const auto& [key, p] : pointers)
        if (!p->empty() && (*p)[0] != '/')
          d.error(rr.mark(key), rr.what() + "." + key + " must be a JSON pointer such as /status");
      rr.finish();
    }
  }
  if (YAML::Node rec = r.child("receipt"); rec.IsDefined()) {
    MapReader rr(rec, d, r.what() + ".receipt", r.mark("receipt"));
    if (rr.is_map()) {
      const bool has_defaults = !g->receipt_status.empty();
      if (auto v = rr.string("status", !has_defaults)) g->receipt_status = *v;
      if (auto v = rr.string("id")) g->receipt_id = *v;
      if (auto v = rr.string("reason")) g->receipt_reason = *v;
      if (YAML::Node m = rr.child("map", !has_defaults); m.IsDefined()) {
        g->receipt_map.clear();
        MapReader mr(m, d, rr.what() + ".map", rr.mark("map"));
        if (mr.is_map())
          for (const auto& kv : m) {
            auto v = mr.string(kv.first.Scalar());
            if (!v) continue;
            auto st = parse_state(*v);
            if (!st || (*st != DeliveryState::sent && *st != DeliveryState::delivered &&
                        *st != DeliveryState::failed && *st != DeliveryState::expired))
              d.error(kv.second.Mark(), mr.what() + "." + kv.first.Scalar() +
                                            " must be sent, delivered, failed or expired, found \"" + *v + "\"");
            else
              g->receipt_map[kv.first.Scalar()] = *st;
          }
      }
      rr.finish();
    }
  }
  if (YAML::Node mo = r.child("mo"); mo.IsDefined()) {
    MapReader mr(mo, d, r.what() + ".mo", r.mark("mo"));
    if (mr.is_map()) {
      g->mo_from = mr.string("from", true).value_or("");
      g->mo_text = mr.string("text", true).value_or("");
      mr.finish();
    }
  }
  const auto known = g->placeholders();
  check_placeholders(g->url, secret_names, known, d, r.mark("url"), r.what() + ".url");
  for (size_t i = 0; i < g->headers.size(); ++i)
    check_placeholders(g->headers[i].second, secret_names, known, d, header_marks[i],
                       r.what() + ".headers." + g->headers[i].first);
  check_placeholders(g->body, secret_names, known, d, r.mark("body"), r.what() + ".body");
  read_common(r, *g);
  read_mo_token(r, *g);
}

}  // namespace herald
