#include "adapters/email/http_api/http_email.hpp"

#include <memory>

#include "adapters/email/email_content.hpp"
#include "settings/yaml_reader.hpp"

namespace herald {

std::optional<SendError> HttpEmailGateway::refuse(const OutboundMessage& m) const {
  if (!plausible_address(m.address))
    return SendError{SendErrorKind::rejected_number, "bad_address", "not an email address"};
  if (!m.directive) return SendError{SendErrorKind::bad_request, "no_directive", "nothing to send"};
  return api.refuse(values(m));
}

TemplateValues HttpEmailGateway::values(const OutboundMessage& m) const {
  auto content = std::make_shared<std::optional<EmailContent>>();
  return message_values(m, [this, &m, content](const std::string& key) -> std::optional<std::string> {
    if (key == "to_name") return m.recipient_name;
    if (key == "from") return from;
    if (key == "from_name") return from_name;
    if (key == "reply_to") return reply_to;
    if (key == "message_id") return message_id(m.token, message_id_domain);
    if (key != "subject" && key != "text" && key != "html") return std::nullopt;
    if (!*content)
      *content = m.directive ? render_email(*m.directive, m.recipient_name, m.ack_url) : EmailContent{};
    const EmailContent& c = **content;
    return key == "subject" ? c.subject : key == "text" ? c.text : c.html;
  });
}

net::HttpRequest HttpEmailGateway::build(const OutboundMessage& m) const {
  return api.request(values(m), limits_.timeout_ms);
}

std::unique_ptr<Gateway> HttpEmailGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<HttpEmailGateway>();
  read_sender(r, g->from, g->from_name, g->reply_to, g->message_id_domain);
  g->name_ = name;
  OutboundMessage probe;
  probe.address = "+84912000000";
  probe.text = "probe";
  g->api.read(r, {{"to", "to_name", "from", "from_name", "reply_to", "subject", "text", "html", "message_id", "token",
                   "receipt_url", "delivery_id"},
                  message_values(probe),
                  {}});
  read_common(r, *g);
  read_mo_token(r, *g);
  return g;
}

}  // namespace herald
