#include "adapters/sms/kannel/kannel.hpp"

#include <array>
#include <charconv>

#include "settings/yaml_reader.hpp"
#include "net/url.hpp"
#include "text/vietnamese.hpp"

namespace herald {

namespace {

struct DlrRow {
  int value;
  DeliveryState state;
  const char* meaning;
};

// dlr-mask bits as Kannel reports them; 34 is "expired" as some SMSCs report it.
constexpr std::array<DlrRow, 6> kDlr{{
    {1, DeliveryState::delivered, "delivered to phone"},
    {2, DeliveryState::failed, "undelivered to phone"},
    {4, DeliveryState::sent, "queued on SMSC"},
    {8, DeliveryState::sent, "accepted by SMSC"},
    {16, DeliveryState::failed, "rejected by SMSC"},
    {34, DeliveryState::expired, "expired on SMSC"},
}};

}  // namespace

std::optional<Receipt> kannel_dlr(int value) {
  for (const auto& row : kDlr)
    if (row.value == value) {
      Receipt u;
      u.state = row.state;
      u.status = std::to_string(value);
      u.detail = row.meaning;
      if (row.state == DeliveryState::failed || row.state == DeliveryState::expired)
        u.error_code = "kannel_dlr_" + std::to_string(value);
      return u;
    }
  return std::nullopt;
}

net::HttpRequest KannelGateway::build(const OutboundMessage& m) const {
  // The password travels in the query, as Kannel requires: never log this URL.
  std::string url = sendsms_url + "?username=" + net::percent_encode(username) +
                    "&password=" + net::percent_encode(password.reveal()) +
                    "&to=" + net::percent_encode(m.address) + "&text=" + net::percent_encode(m.text) +
                    "&charset=UTF-8&coding=" + (m.coding == SmsCoding::ucs2 ? "2" : "0") +
                    "&dlr-mask=" + std::to_string(dlr_mask) +
                    "&dlr-url=" + net::percent_encode(m.receipt_url);
  if (!from.empty()) url += "&from=" + net::percent_encode(from);
  if (!smsc.empty()) url += "&smsc=" + net::percent_encode(smsc);
  net::HttpRequest req;
  req.method = "GET";
  req.url = std::move(url);
  req.timeout_ms = limits_.timeout_ms;
  return req;
}

SendResult KannelGateway::parse(const net::HttpResponse& r) const {
  SendResult out;
  if (r.result != CURLE_OK) {
    out.error = transport_error(r);
    return out;
  }
  std::string body = utf8_clean(utf8_prefix(r.body, 300));
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  // "0: Accepted for delivery" and "3: Queued for later delivery" both mean Kannel took it.
  if (r.status == 202 || (r.status == 200 && (body.rfind("0:", 0) == 0 || body.rfind("3:", 0) == 0)))
    return out;
  std::string code = "http_" + std::to_string(r.status);
  // Kannel answers 400 "Number(s) has/have been denied by white- and/or black-lists."
  // for a refused number (also for one it cannot parse): that number will never work.
  if ((r.status == 400 || r.status == 403) && body.find("denied") != std::string::npos)
    out.error = {SendErrorKind::rejected_number, "kannel_denied", body};
  else if (r.status == 403)
    out.error = {SendErrorKind::auth_failed, code, body};
  else if (r.status == 503 || r.status >= 500)
    out.error = {SendErrorKind::server_error, code, body};
  else if (r.status >= 400)
    out.error = {SendErrorKind::bad_request, code, body};
  else
    out.error = {SendErrorKind::unknown, code, body};
  return out;
}

ReceiptParse KannelGateway::parse_receipt(const InboundCallback& cb) const {
  auto it = cb.query.find("status");
  if (it == cb.query.end()) return {std::nullopt, "missing status"};
  int value = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || p != it->second.data() + it->second.size())
    return {std::nullopt, "status is not a number"};
  auto receipt = kannel_dlr(value);
  if (!receipt) return {std::nullopt, "unknown DLR status " + it->second};
  if (auto a = cb.query.find("answer"); a != cb.query.end() && !a->second.empty())
    receipt->detail += ": " + utf8_clean(utf8_prefix(a->second, 200));
  return {receipt, {}};
}

std::unique_ptr<Gateway> KannelGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<KannelGateway>();
  g->name_ = name;
  if (auto v = r.string("sendsms_url", true)) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      r.diag().error(r.child("sendsms_url").Mark(), r.what() + ".sendsms_url must be an http(s) URL");
    g->sendsms_url = *v;
  }
  if (auto v = r.string("username", true)) g->username = *v;
  if (auto v = r.secret("password", true)) g->password = *v;
  if (auto v = r.string("from")) g->from = *v;
  if (auto v = r.string("smsc")) g->smsc = *v;
  if (auto v = r.integer("dlr_mask", 0, 63)) g->dlr_mask = static_cast<int>(*v);
  read_common(r, *g);
  read_mo_token(r, *g);
  return g;
}

std::optional<InboundReply> KannelGateway::parse_mo(const InboundCallback& cb) const {
  auto from = cb.query.find("from");
  if (from == cb.query.end() || from->second.empty()) return std::nullopt;
  auto text = cb.query.find("text");
  return InboundReply{from->second, text == cb.query.end() ? std::string() : text->second, {}};
}

}  // namespace herald
