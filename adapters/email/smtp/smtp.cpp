#include "adapters/email/smtp/smtp.hpp"

#include <array>

#include "settings/yaml_reader.hpp"
#include "core/time.hpp"
#include "adapters/email/email_content.hpp"
#include "adapters/email/mime.hpp"

namespace herald {

namespace {

struct SmtpCode {
  long code;
  SendErrorKind kind;
};

// 5xx replies that are not a plain "you sent something wrong" (RFC 5321 section 4.2.3,
// RFC 4954 for AUTH). Every other 5xx is bad_request; every 4xx is temporary.
constexpr std::array<SmtpCode, 11> kPermanent{{
    {530, SendErrorKind::auth_failed},      // authentication required
    {534, SendErrorKind::auth_failed},      // mechanism too weak
    {535, SendErrorKind::auth_failed},      // credentials invalid
    {538, SendErrorKind::auth_failed},      // encryption required for this mechanism
    {550, SendErrorKind::rejected_number},  // mailbox unavailable
    {551, SendErrorKind::rejected_number},  // user not local
    {553, SendErrorKind::rejected_number},  // mailbox name not allowed
    {556, SendErrorKind::rejected_number},  // domain does not accept mail
    {552, SendErrorKind::rejected_content}, // storage exceeded / message too big
    {554, SendErrorKind::rejected_content}, // transaction failed (spam, policy)
    {521, SendErrorKind::rejected_number},  // host does not accept mail
}};

}  // namespace

SendError smtp_error(long code, const std::string& text) {
  const std::string c = "smtp_" + std::to_string(code);
  if (code >= 400 && code < 500) return {SendErrorKind::server_error, c, text};
  for (const auto& p : kPermanent)
    if (p.code == code) return {p.kind, c, text};
  if (code >= 500 && code < 600) return {SendErrorKind::bad_request, c, text};
  return {SendErrorKind::unknown, c, text};
}

std::optional<SendError> SmtpGateway::refuse(const OutboundMessage& m) const {
  if (!plausible_address(m.address))
    return SendError{SendErrorKind::rejected_number, "bad_address", "not an email address"};
  if (!m.directive) return SendError{SendErrorKind::bad_request, "no_directive", "nothing to send"};
  return std::nullopt;
}

std::string SmtpGateway::message(const OutboundMessage& m) const {
  EmailContent c = m.directive ? render_email(*m.directive, m.recipient_name, m.ack_url) : EmailContent{};
  mime::Message msg;
  msg.from_name = from_name;
  msg.from_addr = from;
  msg.to_name = m.recipient_name;
  msg.to_addr = m.address;
  msg.reply_to = reply_to;
  msg.subject = c.subject;
  msg.message_id = message_id(m.token, message_id_domain);
  msg.date_ms = clock ? clock() : now_ms();
  // Nothing a recipient sees may be the token (it authenticates receipts): the boundary
  // and the header carry the message reference.
  const std::string ref = message_ref(m.token);
  msg.boundary = "herald-alt-" + ref;
  msg.text = c.text;
  msg.html = c.html;
  // For a bounce or a reply that quotes headers: which delivery this was.
  msg.extra_headers.emplace_back("X-Herald-Delivery", ref);
  return mime::build(msg);
}

net::HttpRequest SmtpGateway::build(const OutboundMessage& m) const {
  net::HttpRequest req;
  req.method = "SMTP";
  req.url = url;
  req.timeout_ms = limits_.timeout_ms;
  req.mail_from = "<" + from + ">";
  req.mail_rcpt = {"<" + m.address + ">"};
  req.body = message(m);
  const long use_ssl = starttls == StartTls::required ? CURLUSESSL_ALL
                       : starttls == StartTls::optional ? CURLUSESSL_TRY
                                                        : CURLUSESSL_NONE;
  std::string user = username;
  std::string pass = password ? password->reveal() : std::string();
  // libcurl copies string options, so the lambda's copies need not outlive the call.
  req.customize = [use_ssl, user, pass](CURL* e) {
    curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
    if (!user.empty()) {
      curl_easy_setopt(e, CURLOPT_USERNAME, user.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, pass.c_str());
    }
  };
  return req;
}

SendResult SmtpGateway::parse(const net::HttpResponse& r) const {
  SendResult out;
  if (r.result == CURLE_OK) return out;  // 250 after the message: accepted, and final
  if (r.result == CURLE_LOGIN_DENIED) {
    out.error = {SendErrorKind::auth_failed, r.status ? "smtp_" + std::to_string(r.status) : "smtp_auth", r.error};
    return out;
  }
  if (r.result == CURLE_USE_SSL_FAILED) {
    out.error = {SendErrorKind::connection_failed, "smtp_starttls_unavailable", r.error};
    return out;
  }
  if (r.status >= 400) {
    out.error = smtp_error(r.status, r.error);
    return out;
  }
  out.error = transport_error(r);
  return out;
}

ReceiptParse SmtpGateway::parse_receipt(const InboundCallback&) const {
  return {std::nullopt, "SMTP gateways take no callbacks"};
}

std::unique_ptr<Gateway> SmtpGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<SmtpGateway>();
  g->name_ = name;
  g->clock = &now_ms;
  Diagnostics& d = r.diag();
  const std::string w = r.what();
  if (auto v = r.string("url", true)) {
    if (v->rfind("smtp://", 0) != 0 && v->rfind("smtps://", 0) != 0)
      d.error(r.mark("url"), w + ".url must be smtp://host:port or smtps://host:port");
    g->url = *v;
  }
  if (auto v = r.string("starttls")) {
    if (*v == "required") g->starttls = StartTls::required;
    else if (*v == "optional") g->starttls = StartTls::optional;
    else if (*v == "off") g->starttls = StartTls::off;
    else d.error(r.mark("starttls"), w + ".starttls must be required, optional or off, found \"" + *v + "\"");
  }
  g->username = r.string("username").value_or("");
  g->password = r.secret("password");
  if (g->username.empty() != !r.child("password").IsDefined())
    d.error(r.mark(g->username.empty() ? "password" : "username"),
            w + ".username and .password go together");
  if (g->password && g->url.rfind("smtp://", 0) == 0 && g->starttls != StartTls::required)
    d.error(r.mark("password"),
            w + ".password would travel unencrypted: set starttls: required or use smtps://");
  read_sender(r, g->from, g->from_name, g->reply_to, g->message_id_domain);
  read_common(r, *g);
  return g;
}

}  // namespace herald
