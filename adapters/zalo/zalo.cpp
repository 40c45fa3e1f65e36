#include "adapters/zalo/zalo.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <boost/json.hpp>

#include "adapters/zalo/webhook.hpp"
#include "directive/ack_code.hpp"
#include "directive/directive.hpp"
#include "net/url.hpp"
#include "settings/redact.hpp"
#include "text/vietnamese.hpp"
#include "settings/yaml_reader.hpp"
#include "text/whitespace.hpp"

namespace json = boost::json;

namespace herald {

namespace {

// Zalo's answer codes (OA API and ZNS share them) on the shared error set. Codes not
// listed here are `unknown`: retried, and kept on the delivery for an operator to read.
constexpr std::array<ZaloErrorRow, 13> kZaloErrors{{
    {-32, SendErrorKind::throttled, "rate limit exceeded"},
    {-211, SendErrorKind::throttled, "out of quota"},
    {-124, SendErrorKind::token_expired, "access token invalid"},
    {-216, SendErrorKind::token_expired, "access token invalid or expired"},
    {-118, SendErrorKind::rejected_number, "no Zalo account for this user or phone"},
    {-108, SendErrorKind::rejected_number, "phone number invalid"},
    {-114, SendErrorKind::rejected_number, "user inactive or blocked"},
    {-213, SendErrorKind::rejected_number, "user does not follow the OA"},
    {-230, SendErrorKind::rejected_number, "user has not interacted with the OA recently"},
    {-201, SendErrorKind::bad_request, "invalid parameters"},
    {-109, SendErrorKind::bad_request, "template id invalid"},
    {-115, SendErrorKind::auth_failed, "not enough balance"},
    {-14002, SendErrorKind::auth_failed, "app id or secret key invalid"},
}};

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The first `chars` code points of `s`.
std::string prefix_chars(const std::string& s, size_t chars) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (n == chars) return s.substr(0, i);
      ++n;
    }
  }
  return s;
}

// `s` cut to `chars` code points, at a word boundary when one is near, with an ellipsis.
std::string shorten(const std::string& s, size_t chars) {
  if (utf8_length(s) <= chars) return s;
  if (chars == 0) return {};
  std::string cut = prefix_chars(s, chars - 1);
  size_t space = cut.find_last_of(" \n");
  if (space != std::string::npos && space > cut.size() * 3 / 4) cut.resize(space);
  while (!cut.empty() && (cut.back() == ' ' || cut.back() == '\n' || cut.back() == ',')) cut.pop_back();
  return cut + "…";
}

std::string_view urgency_label(Urgency u) {
  switch (u) {
    case Urgency::normal: return "";
    case Urgency::khan: return "KHẨN";
    case Urgency::thuong_khan: return "THƯỢNG KHẨN";
    case Urgency::hoa_toc: return "HỎA TỐC";
  }
  return "";
}

// "2021-07-12T08:00:00+07:00" -> "12/07/2021": the date as written at the issuer.
std::string issued_date(const Directive& d) {
  const std::string& s = d.issued_at;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return s;
  return s.substr(8, 2) + "/" + s.substr(5, 2) + "/" + s.substr(0, 4);
}

std::string text_at(const json::value& v, const char* key) {
  const json::object* o = v.if_object();
  if (!o) return {};
  const json::value* f = o->if_contains(key);
  if (!f || f->is_null()) return {};
  if (f->is_string()) return std::string(f->get_string());
  return json::serialize(*f);
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields)
    out += (out.empty() ? "" : "&") + net::percent_encode(k) + "=" + net::percent_encode(v);
  return out;
}

}  // namespace

SendError zalo_error(int code, const std::string& message) {
  std::string id = "zalo_" + std::to_string(code);
  for (const auto& row : kZaloErrors)
    if (row.code == code) return {row.kind, id, message.empty() ? row.meaning : message};
  return {SendErrorKind::unknown, id, message};
}

std::string zalo_phone(const std::string& address) {
  if (address.size() < 11 || address.rfind("+84", 0) != 0) return {};
  for (size_t i = 1; i < address.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(address[i]))) return {};
  return address.substr(1);
}

std::string render_zalo_text(const Directive& d, const std::string& recipient_name, size_t max_chars) {
  std::string to = recipient_name.empty() ? "" : " " + recipient_name;
  if (d.confidential())
    return shorten(d.issuer_name + " có văn bản số " + d.number + " (mật) gửi đồng chí" + to +
                       ". Đề nghị nhận bản chính tại văn phòng.",
                   max_chars);
  std::string head;
  if (auto u = urgency_label(d.urgency); !u.empty()) head = "[" + std::string(u) + "] ";
  head += d.issuer_name + " - văn bản số " + d.number + " ngày " + issued_date(d) + "\n" + d.subject;
  head = shorten(head, max_chars);
  size_t used = utf8_length(head);
  std::string body(trim(d.body, LineBreaks::are_space)), summary(trim(d.summary, LineBreaks::are_space));
  if (used + 2 >= max_chars || (body.empty() && summary.empty())) return head;
  const size_t room = max_chars - used - 2;
  // The whole body when it fits; else the summary written for short channels; else as
  // much of the body as fits.
  std::string text;
  if (!body.empty() && utf8_length(body) <= room) text = body;
  else if (!summary.empty()) text = shorten(summary, room);
  else text = shorten(body, room);
  return head + "\n\n" + text;
}

std::string zns_field(const std::string& field, const OutboundMessage& m) {
  const Directive* d = m.directive;
  if (field == "recipient_name") return m.recipient_name;
  if (field == "ack_link") return m.ack_url;
  if (!d) return {};
  if (field == "number") return d->number;
  if (field == "issuer") return d->issuer_name;
  if (field == "issued_date") return issued_date(*d);
  if (field == "urgency") return std::string(urgency_label(d->urgency));
  // Mật and above: the template carries no content, only that a document awaits.
  if (field == "subject") return d->confidential() ? "Văn bản mật" : d->subject;
  if (field == "summary") return d->confidential() ? "Đề nghị nhận bản chính tại văn phòng" : d->summary;
  if (field == "ack_code") {
    // "OK 158": the reply that acknowledges; the store's code, else the number's digits.
    if (!d->ack_code.empty()) return "OK " + d->ack_code;
    std::string digits;
    for (char c : d->number) {
      if (!std::isdigit(static_cast<unsigned char>(c))) break;
      digits += c;
    }
    return "OK " + (digits.empty() ? d->number : digits);
  }
  return {};
}

// ---- shared: requests, answers, credentials ------------------------------------------

net::HttpRequest ZaloGateway::post_json(const std::string& url, std::string body) const {
  net::HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.timeout_ms = limits_.timeout_ms;
  // The token is a header, never in the URL: URLs end up in logs.
  req.headers = {"access_token: " + access_token.reveal(), "Content-Type: application/json; charset=utf-8",
                 "Expect:"};
  req.body = std::move(body);
  return req;
}

WebhookParse ZaloGateway::parse_webhook(const InboundCallback& cb, int64_t now_ms) const {
  return read_zalo_webhook(cb, app_id, oa_secret_key.reveal(), now_ms, webhook_tolerance_ms);
}

SendResult ZaloGateway::parse(const net::HttpResponse& r) const {
  SendResult out;
  if (r.result != CURLE_OK) {
    out.error = transport_error(r);
    return out;
  }
  const std::string http = "http_" + std::to_string(r.status);
  const std::string excerpt = utf8_clean(utf8_prefix(r.body, 200));
  if (r.status == 429) return {{SendErrorKind::throttled, http, excerpt}, {}, 0};
  if (r.status >= 500) return {{SendErrorKind::server_error, http, excerpt}, {}, 0};
  if (r.status == 401 || r.status == 403) return {{SendErrorKind::auth_failed, http, excerpt}, {}, 0};
  if (r.status < 200 || r.status >= 300)
    return {{SendErrorKind::bad_request, http, excerpt}, {}, 0};
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return {{SendErrorKind::unknown, "zalo_not_json", excerpt}, {}, 0};
  const json::value* err = v.as_object().if_contains("error");
  int64_t code = 0;
  if (!err) return {{SendErrorKind::unknown, "zalo_no_error_field", excerpt}, {}, 0};
  if (err->is_int64()) code = err->as_int64();
  else if (err->is_uint64()) code = static_cast<int64_t>(err->as_uint64());
  else if (err->is_string()) code = std::atoll(std::string(err->get_string()).c_str());
  else return {{SendErrorKind::unknown, "zalo_no_error_field", excerpt}, {}, 0};
  if (code != 0) {
    out.error = zalo_error(static_cast<int>(code), text_at(v, "message"));
    return out;
  }
  if (const json::value* data = v.as_object().if_contains("data")) out.provider_ref = text_at(*data, id_field());
  return out;
}

std::optional<net::HttpRequest> ZaloGateway::refresh_request() const {
  if (refresh_token.empty()) return std::nullopt;
  net::HttpRequest req;
  req.method = "POST";
  req.url = oauth_url + "/v4/oa/access_token";
  req.timeout_ms = limits_.timeout_ms;
  req.headers = {"secret_key: " + secret_key.reveal(), "Content-Type: application/x-www-form-urlencoded",
                 "Expect:"};
  req.body = form_encode({{"refresh_token", refresh_token.reveal()}, {"app_id", app_id},
                          {"grant_type", "refresh_token"}});
  return req;
}

bool ZaloGateway::apply_refresh(const net::HttpResponse& r, std::map<std::string, std::string>& persist) {
  if (r.result != CURLE_OK || r.status != 200) return false;
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return false;
  std::string access = text_at(v, "access_token"), refresh = text_at(v, "refresh_token");
  if (access.empty() || refresh.empty()) return false;  // {"error": -14014, ...}: refused
  access_token = Secret(access, "refreshed");
  refresh_token = Secret(refresh, "refreshed");
  remember_secret(access);  // scrubbed from what providers answer, as config's are
  remember_secret(refresh);
  // The old refresh token is spent now: without the new one a restart could not refresh.
  persist["access_token"] = access;
  persist["refresh_token"] = refresh;
  return true;
}

void ZaloGateway::restore(const std::map<std::string, std::string>& persisted) {
  // A persisted token is newer than config's: config's refresh token was spent by the
  // refresh that produced it.
  if (auto it = persisted.find("refresh_token"); it != persisted.end() && !it->second.empty()) {
    refresh_token = Secret(it->second, "store");
    remember_secret(it->second);
  }
  if (auto it = persisted.find("access_token"); it != persisted.end() && !it->second.empty()) {
    access_token = Secret(it->second, "store");
    remember_secret(it->second);
  }
}

void ZaloGateway::read_shared(MapReader& r, const char* default_base) {
  Diagnostics& d = r.diag();
  auto url = [&](const char* key, std::string& out) {
    if (auto v = r.string(key)) {
      if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
        d.error(r.mark(key), r.what() + "." + key + " must be an http(s) URL");
      while (!v->empty() && v->back() == '/') v->pop_back();
      out = *v;
    }
  };
  base_url = default_base;
  url("base_url", base_url);
  url("oauth_url", oauth_url);
  if (auto v = r.string("app_id", true)) {
    if (v->empty()) d.error(r.mark("app_id"), r.what() + ".app_id must not be empty");
    app_id = *v;
  }
  if (auto v = r.secret("secret_key", true)) secret_key = *v;
  if (auto v = r.secret("oa_secret_key")) oa_secret_key = *v;
  if (auto v = r.secret("access_token")) access_token = *v;
  if (auto v = r.secret("refresh_token")) refresh_token = *v;
  if (r.node().IsMap() && !r.node()["access_token"] && !r.node()["refresh_token"])
    d.error(r.node().Mark(), r.what() + " needs access_token or refresh_token (or both)");
  if (auto v = r.positive_duration_ms("webhook_tolerance")) webhook_tolerance_ms = *v;
  read_common(r, *this);
}

// ---- OA customer-service text ----------------------------------------------------------

std::optional<SendError> ZaloOaGateway::refuse(const OutboundMessage& m) const {
  // The planner addresses a person without a Zalo user id by phone; OA messages cannot
  // reach a phone number (ZNS can), so this is final for this gateway.
  if (m.address.empty() || !std::all_of(m.address.begin(), m.address.end(),
                                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return SendError{SendErrorKind::rejected_number, "no_user_id",
                     "no Zalo user id for this recipient (address is not a Zalo user id)"};
  return std::nullopt;
}

net::HttpRequest ZaloOaGateway::build(const OutboundMessage& m) const {
  std::string footer;
  if (m.directive && m.directive->ack_required && !m.directive->ack_code.empty())
    footer = "\n\n" + ack_footer(m.directive->ack_code, false) +
             (m.ack_url.empty() ? "" : "\nHoặc bấm: " + m.ack_url);
  const size_t room = kMaxText - std::min(kMaxText / 2, utf8_length(footer));
  std::string text = m.directive ? render_zalo_text(*m.directive, m.recipient_name, room) + footer : m.text;
  json::object body{{"recipient", {{"user_id", m.address}}}, {"message", {{"text", text}}}};
  return post_json(base_url + "/v3.0/oa/message/cs", json::serialize(body));
}

std::unique_ptr<Gateway> ZaloOaGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<ZaloOaGateway>();
  g->name_ = name;
  g->read_shared(r, "https://openapi.zalo.me");
  return g;
}

// ---- ZNS template by phone -------------------------------------------------------------

std::optional<SendError> ZaloZnsGateway::refuse(const OutboundMessage& m) const {
  if (zalo_phone(m.address).empty())
    return SendError{SendErrorKind::rejected_number, "not_a_phone",
                     "ZNS sends to Vietnamese phone numbers (+84...) only"};
  return std::nullopt;
}

net::HttpRequest ZaloZnsGateway::build(const OutboundMessage& m) const {
  json::object data;
  for (const auto& [param, field] : template_data) data[param] = zns_field(field, m);
  json::object body{{"phone", zalo_phone(m.address)},
                    {"template_id", template_id},
                    {"template_data", std::move(data)},
                    // Comes back in the user_received_message event: names the delivery.
                    {"tracking_id", m.token.empty() ? std::to_string(m.delivery_id) : m.token}};
  return post_json(base_url + "/message/template", json::serialize(body));
}

std::unique_ptr<Gateway> ZaloZnsGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<ZaloZnsGateway>();
  g->name_ = name;
  Diagnostics& d = r.diag();
  if (auto v = r.string("template_id", true)) {
    if (v->empty()) d.error(r.mark("template_id"), r.what() + ".template_id must not be empty");
    g->template_id = *v;
  }
  if (YAML::Node td = r.child("template_data", true); td.IsDefined()) {
    MapReader tr(td, d, r.what() + ".template_data", r.mark("template_data"));
    if (tr.is_map()) {
      for (const auto& kv : td) {
        const std::string param = kv.first.Scalar();
        auto field = tr.string(param);
        if (!field) continue;
        bool known = std::any_of(std::begin(kZnsFields), std::end(kZnsFields),
                                 [&](const char* f) { return *field == f; });
        if (!known) {
          std::string list;
          for (const char* f : kZnsFields) list += (list.empty() ? "" : ", ") + std::string(f);
          d.error(tr.mark(param), tr.what() + "." + param + ": unknown directive field \"" + *field +
                                      "\" (known: " + list + ")");
          continue;
        }
        g->template_data.emplace_back(param, *field);
      }
      if (td.size() == 0) d.error(r.mark("template_data"), r.what() + ".template_data must not be empty");
    }
  }
  g->read_shared(r, "https://business.openapi.zalo.me");
  return g;
}

}  // namespace herald
