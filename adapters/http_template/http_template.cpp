#include "adapters/http_template/http_template.hpp"

#include <openssl/hmac.h>
#include <strings.h>

#include <cctype>
#include <set>

#include <boost/json.hpp>

#include "adapters/email/mime.hpp"
#include "core/compare.hpp"
#include "settings/yaml_reader.hpp"
#include "net/url.hpp"
#include "text/vietnamese.hpp"

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

/// A callback's fields: "/pointer" reads its JSON body, a plain name its query, then its
/// posted form.
class CallbackFields {
 public:
  /// nullopt when the body says it is JSON and is not.
  static std::optional<CallbackFields> read(const InboundCallback& cb) {
    CallbackFields f(cb);
    const std::string type = lowercase(cb.content_type);
    if (!cb.body.empty() && type.find("json") != std::string::npos) {
      json::error_code ec;
      f.json_ = json::parse(cb.body, ec);
      if (ec) return std::nullopt;
      f.has_json_ = true;
    } else if (!cb.body.empty() && type.find("application/x-www-form-urlencoded") != std::string::npos) {
      f.form_ = form_fields(cb.body);
    }
    return f;
  }

  std::string operator()(const std::string& where) const {
    if (where.empty()) return {};
    if (where[0] == '/') return has_json_ ? text_at(json_, where) : std::string();
    if (auto it = cb_.query.find(where); it != cb_.query.end()) return it->second;
    if (auto it = form_.find(where); it != form_.end()) return it->second;
    return {};
  }

 private:
  explicit CallbackFields(const InboundCallback& cb) : cb_(cb) {}
  const InboundCallback& cb_;
  json::value json_;
  bool has_json_ = false;
  std::map<std::string, std::string> form_;
};

// Reports each {{placeholder}} expand() does not know: a typo such as {{txet}} would
// otherwise send every message with that part empty.
void check_placeholders(const std::string& tmpl, const std::set<std::string>& secret_names,
                        const std::vector<std::string_view>& known, Diagnostics& d, const YAML::Mark& at,
                        const std::string& what) {
  for (size_t open = tmpl.find("{{"); open != std::string::npos; open = tmpl.find("{{", open + 2)) {
    size_t close = tmpl.find("}}", open);
    if (close == std::string::npos) return;
    std::string key = tmpl.substr(open + 2, close - open - 2);
    bool ok = key.rfind("secret.", 0) == 0 ? secret_names.count(key.substr(7)) > 0
                                           : std::find(known.begin(), known.end(), key) != known.end();
    if (!ok)
      d.error(at, what + ": unknown placeholder {{" + key + "}}" +
                      (key.rfind("secret.", 0) == 0 ? " (no such entry under secrets)" : ""));
  }
}

}  // namespace

TemplateValues message_values(const OutboundMessage& m, TemplateValues own) {
  return [&m, own = std::move(own)](const std::string& key) -> std::optional<std::string> {
    if (own)
      if (auto v = own(key)) return v;
    if (key == "to") return m.address;
    if (key == "token") return m.token;
    if (key == "receipt_url") return m.receipt_url;
    if (key == "delivery_id") return std::to_string(m.delivery_id);
    return std::nullopt;
  };
}

std::string HttpTemplate::expand(const std::string& tmpl, const TemplateValues& values, Escape escape) const {
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
    const std::string key = tmpl.substr(open + 2, close - open - 2);
    std::string value;
    if (auto v = values ? values(key) : std::nullopt) {
      value = std::move(*v);
    } else if (key.rfind("secret.", 0) == 0) {
      if (auto it = secrets.find(key.substr(7)); it != secrets.end()) value = it->second.reveal();
    }
    switch (escape) {
      case Escape::none: out += value; break;
      case Escape::json: out += json_escaped(value); break;
      case Escape::url: out += net::percent_encode(value); break;
    }
    i = close + 2;
  }
  return out;
}

net::HttpRequest HttpTemplate::request(const TemplateValues& values, int64_t timeout_ms) const {
  net::HttpRequest req;
  req.method = method;
  req.url = expand(url, values, Escape::url);
  req.timeout_ms = timeout_ms;
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.headers.push_back(k + ": " + expand(v, values, Escape::none));
    if (strcasecmp(k.c_str(), "content-type") == 0) has_type = true;
  }
  if (!has_type) req.headers.push_back("Content-Type: application/json; charset=utf-8");
  req.headers.push_back("Expect:");  // no 100-continue round trip
  req.body = expand(body, values, Escape::json);
  return req;
}

std::optional<SendError> HttpTemplate::refuse(const TemplateValues& values) const {
  for (const auto& [k, v] : headers) {
    if (v.find("{{") == std::string::npos) continue;
    for (unsigned char c : expand(v, values, Escape::none))
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return SendError{SendErrorKind::bad_request, "header_control_character",
                         "header " + k + " would carry a control character; not sent"};
  }
  return std::nullopt;
}

SendResult HttpTemplate::parse(const net::HttpResponse& r) const {
  SendResult out;
  if (r.result != CURLE_OK) {
    out.error = transport_error(r);
    return out;
  }
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  std::string provider_text = ec ? utf8_clean(utf8_prefix(r.body, 200)) : text_at(v, response.error_pointer);
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
  if (!response.permanent_pointer.empty() && !ec) {
    std::string pc = text_at(v, response.permanent_pointer);
    for (const auto& p : response.permanent_values)
      if (pc == p) {
        out.error = {SendErrorKind::rejected_number, "provider_" + pc, provider_text};
        return out;
      }
  }
  if (r.status >= 400) {
    out.error = {SendErrorKind::bad_request, code, provider_text};
    return out;
  }
  if (!response.success_pointer.empty()) {
    std::string got = ec ? std::string() : text_at(v, response.success_pointer);
    if (got != response.success_value) {
      out.error = {SendErrorKind::unknown, "provider_" + (got.empty() ? std::string("no_status") : got),
                   provider_text};
      return out;
    }
  }
  if (!response.id_pointer.empty() && !ec) out.provider_ref = text_at(v, response.id_pointer);
  return out;
}

bool HttpTemplate::signature_ok(const InboundCallback& cb) const {
  if (!receipt.signature) return true;
  const CallbackSignature& sig = *receipt.signature;
  auto h = cb.headers.find(sig.header);
  if (h == cb.headers.end()) return false;
  std::string_view given = h->second;
  if (given.substr(0, sig.prefix.size()) != sig.prefix) return false;
  given.remove_prefix(sig.prefix.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const std::string& key = sig.key.reveal();
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(cb.body.data()), cb.body.size(), mac, &len))
    return false;
  const std::string_view raw(reinterpret_cast<const char*>(mac), len);
  if (sig.base64) return constant_time_equal(given, mime::base64(raw));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string want, got(given);
  for (unsigned char b : raw) {
    want += kHex[b >> 4];
    want += kHex[b & 15];
  }
  for (char& ch : got) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return constant_time_equal(got, want);
}

std::optional<InboundReply> HttpTemplate::parse_reply(const InboundCallback& cb) const {
  if (reply.from.empty()) return std::nullopt;
  if (!signature_ok(cb)) return std::nullopt;
  auto field = CallbackFields::read(cb);
  if (!field) return std::nullopt;
  InboundReply r{(*field)(reply.from), (*field)(reply.text), {}};
  if (r.from.empty()) return std::nullopt;
  return r;
}

ReceiptParse HttpTemplate::parse_receipt(const InboundCallback& cb) const {
  if (!signature_ok(cb)) {
    ReceiptParse forged{std::nullopt, "the callback's signature does not verify"};
    forged.forged = true;
    return forged;
  }
  auto field = CallbackFields::read(cb);
  if (!field) return {std::nullopt, "callback body is not JSON"};
  std::string status = (*field)(receipt.status);
  if (status.empty()) return {std::nullopt, "callback carries no status"};
  auto it = receipt.map.find(status);
  if (it == receipt.map.end()) return {std::nullopt, "unknown status " + utf8_clean(utf8_prefix(status, 50))};
  Receipt u;
  u.state = it->second;
  u.status = status;
  u.provider_ref = (*field)(receipt.id);
  u.detail = utf8_clean(utf8_prefix((*field)(receipt.reason), 500));
  if (u.state == DeliveryState::failed || u.state == DeliveryState::expired) u.error_code = "provider_" + status;
  return {u, {}};
}

void HttpTemplate::read(MapReader& r, const Type& type) {
  Diagnostics& d = r.diag();
  if (auto v = r.string("url", true)) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      d.error(r.child("url").Mark(), r.what() + ".url must be an http(s) URL");
    url = *v;
  }
  if (auto v = r.string("method")) {
    if (*v != "POST" && *v != "PUT" && *v != "GET")
      d.error(r.child("method").Mark(), r.what() + ".method must be POST, PUT or GET");
    else method = *v;
  }
  std::vector<YAML::Mark> header_marks;
  if (YAML::Node h = r.child("headers"); h.IsDefined()) {
    MapReader hr(h, d, r.what() + ".headers", r.mark("headers"));
    if (hr.is_map())
      for (const auto& kv : h) {
        auto v = hr.string(kv.first.Scalar());
        if (!v) continue;
        headers.emplace_back(kv.first.Scalar(), *v);
        header_marks.push_back(hr.mark(kv.first.Scalar()));
      }
  }
  std::set<std::string> secret_names;  // declared, whether or not they resolved
  if (YAML::Node s = r.child("secrets"); s.IsDefined()) {
    MapReader sr(s, d, r.what() + ".secrets", r.mark("secrets"));
    if (sr.is_map())
      for (const auto& kv : s) {
        secret_names.insert(kv.first.Scalar());
        if (auto v = sr.secret(kv.first.Scalar(), true)) secrets[kv.first.Scalar()] = *v;
      }
  }
  if (auto v = r.string("body", type.default_body.empty())) {
    // The template must become valid JSON once placeholders are filled.
    json::error_code ec;
    json::parse(expand(*v, type.probe, Escape::json), ec);
    if (ec) d.error(r.child("body").Mark(), r.what() + ".body is not a JSON template: " + ec.message());
    body = *v;
  } else if (!type.default_body.empty()) {
    body = type.default_body;
  }
  if (YAML::Node resp = r.child("response"); resp.IsDefined()) {
    MapReader rr(resp, d, r.what() + ".response", r.mark("response"));
    if (rr.is_map()) {
      response.success_pointer = rr.string("success_pointer").value_or("");
      response.success_value = rr.string("success_value").value_or("");
      response.id_pointer = rr.string("id_pointer").value_or("");
      response.error_pointer = rr.string("error_pointer").value_or("");
      response.permanent_pointer = rr.string("permanent_pointer").value_or("");
      response.permanent_values = rr.string_list("permanent_values").value_or(std::vector<std::string>{});
      const std::pair<const char*, const std::string*> pointers[] = {
          {"success_pointer", &response.success_pointer}, {"id_pointer", &response.id_pointer},
          {"error_pointer", &response.error_pointer}, {"permanent_pointer", &response.permanent_pointer}};
      for (const auto& [key, p] : pointers)
        if (!p->empty() && (*p)[0] != '/')
          d.error(rr.mark(key), rr.what() + "." + key + " must be a JSON pointer such as /status");
      rr.finish();
    }
  }
  if (YAML::Node rec = r.child("receipt"); rec.IsDefined()) {
    MapReader rr(rec, d, r.what() + ".receipt", r.mark("receipt"));
    if (rr.is_map()) {
      const bool has_defaults = !receipt.status.empty();
      if (auto v = rr.string("status", !has_defaults)) receipt.status = *v;
      if (auto v = rr.string("id")) receipt.id = *v;
      if (auto v = rr.string("reason")) receipt.reason = *v;
      if (YAML::Node sn = rr.child("signature"); sn.IsDefined()) {
        MapReader sr(sn, d, rr.what() + ".signature", rr.mark("signature"));
        if (sr.is_map()) {
          CallbackSignature sig;
          sig.header = sr.string("header", true).value_or("");
          for (char& ch : sig.header) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          if (auto k = sr.secret("key", true)) sig.key = *k;
          if (auto alg = sr.string("algorithm"); alg && *alg != "hmac-sha256")
            d.error(sr.mark("algorithm"), sr.what() + ".algorithm must be hmac-sha256, found \"" + *alg + "\"");
          if (auto enc = sr.string("encoding")) {
            if (*enc == "base64") sig.base64 = true;
            else if (*enc != "hex")
              d.error(sr.mark("encoding"), sr.what() + ".encoding must be hex or base64, found \"" + *enc + "\"");
          }
          sig.prefix = sr.string("prefix").value_or("");
          sr.finish();
          receipt.signature = std::move(sig);
        }
      }
      if (YAML::Node m = rr.child("map", !has_defaults); m.IsDefined()) {
        receipt.map.clear();
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
              receipt.map[kv.first.Scalar()] = *st;
          }
      }
      rr.finish();
    }
  }
  if (YAML::Node mo = r.child("mo"); mo.IsDefined()) {
    MapReader mr(mo, d, r.what() + ".mo", r.mark("mo"));
    if (mr.is_map()) {
      reply.from = mr.string("from", true).value_or("");
      reply.text = mr.string("text", true).value_or("");
      mr.finish();
    }
  }
  check_placeholders(url, secret_names, type.placeholders, d, r.mark("url"), r.what() + ".url");
  for (size_t i = 0; i < headers.size(); ++i)
    check_placeholders(headers[i].second, secret_names, type.placeholders, d, header_marks[i],
                       r.what() + ".headers." + headers[i].first);
  check_placeholders(body, secret_names, type.placeholders, d, r.mark("body"), r.what() + ".body");
}

}  // namespace herald
