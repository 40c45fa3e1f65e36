#pragma once
// Email through a JSON HTTP provider (of the SendGrid / Mailgun / SES-over-HTTP kind),
// configured like the http_json SMS gateway (adapters/http_template): URL, headers,
// secrets, a JSON body template and response / callback mapping. Herald renders the email
// (subject, text, HTML, a Message-ID stable per delivery) and the template places it; the
// provider's delivered and bounced webhooks come back through
// /hooks/email/<gateway>/<token>.
#include <memory>
#include <string>

#include "adapters/gateway.hpp"
#include "adapters/http_template/http_template.hpp"

namespace herald {

class HttpEmailGateway final : public Gateway {
 public:
  HttpTemplate api;
  std::string from;
  std::string from_name;
  std::string reply_to;
  std::string message_id_domain;

  Channel channel() const override { return Channel::email; }
  std::optional<SendError> refuse(const OutboundMessage& m) const override;
  /// Fills {{to}}, {{to_name}}, {{from}}, {{from_name}}, {{reply_to}}, {{subject}},
  /// {{text}}, {{html}}, {{message_id}}, {{token}}, {{receipt_url}}, {{delivery_id}},
  /// {{secret.NAME}} (JSON-escaped in the body).
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override { return api.parse(r); }
  ReceiptParse parse_receipt(const InboundCallback& cb) const override { return api.parse_receipt(cb); }
  std::optional<InboundReply> parse_mo(const InboundCallback& cb) const override { return api.parse_reply(cb); }

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);

 private:
  /// The placeholders' values for `m`; the email is rendered when one of its parts is
  /// first asked for (a header check needs none).
  TemplateValues values(const OutboundMessage& m) const;
};

}  // namespace herald
