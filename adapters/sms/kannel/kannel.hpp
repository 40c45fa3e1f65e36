#pragma once
// Kannel's sendsms interface, with delivery reports through a per-delivery dlr-url.
#include <memory>
#include <string>

#include "adapters/gateway.hpp"
#include "settings/secret.hpp"

namespace herald {

class KannelGateway final : public Gateway {
 public:
  std::string sendsms_url;  // http://host:13013/cgi-bin/sendsms
  std::string username;
  Secret password;
  std::string from;
  std::string smsc;         // optional smsc-id to route through
  int dlr_mask = 31;        // delivered | undelivered | queued | accepted | rejected

  Channel channel() const override { return Channel::sms; }
  std::string receipt_query() const override { return "status=%d&answer=%A"; }
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override;
  ReceiptParse parse_receipt(const InboundCallback& cb) const override;
  /// smsbox's sms-service get-url: ?from=%p&to=%P&text=%a&time=%t.
  std::optional<InboundReply> parse_mo(const InboundCallback& cb) const override;

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);
};

/// Kannel's DLR values (the %d of dlr-url) and what they mean for a delivery.
std::optional<Receipt> kannel_dlr(int value);

}  // namespace herald
