#pragma once
// A generic HTTP JSON SMS gateway: URL, auth, request body template and response /
// receipt field mapping are configuration (adapters/http_template), so Vietnamese
// brandname gateways of the eSMS / SpeedSMS kind need no code.
#include <memory>
#include <optional>
#include <string>

#include "adapters/gateway.hpp"
#include "adapters/http_template/http_template.hpp"

namespace herald {

class HttpJsonGateway final : public Gateway {
 public:
  HttpTemplate api;

  Channel channel() const override { return Channel::sms; }
  std::optional<SendError> refuse(const OutboundMessage& m) const override { return api.refuse(values(m)); }
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override { return api.parse(r); }
  ReceiptParse parse_receipt(const InboundCallback& cb) const override { return api.parse_receipt(cb); }
  std::optional<InboundReply> parse_mo(const InboundCallback& cb) const override { return api.parse_reply(cb); }

  /// {{to}}, {{to_msisdn}}, {{to_national}}, {{text}}, {{token}}, {{receipt_url}},
  /// {{delivery_id}}, {{coding}} for `m` ({{secret.NAME}} is the template's own).
  static TemplateValues values(const OutboundMessage& m);

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);
};

}  // namespace herald
