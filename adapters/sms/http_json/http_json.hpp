#pragma once
// A generic HTTP JSON SMS gateway: URL, auth, request body template and response /
// receipt field mapping are configuration, so Vietnamese brandname gateways of the
// eSMS / SpeedSMS kind need no code.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "settings/secret.hpp"
#include "gateway.hpp"

namespace herald {

/// Also the base of the http_email gateway (adapters/email/http_api/), which adds its own
/// placeholders and channel.
class HttpJsonGateway : public Gateway {
 public:
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;  // values may use {{...}}
  std::map<std::string, Secret> secrets;                     // {{secret.NAME}}
  std::string body;                                          // JSON template
  std::string success_pointer;  // e.g. /CodeResult; empty: any 2xx is success
  std::string success_value;    // e.g. "100"
  std::string id_pointer;       // provider message id
  std::string error_pointer;    // provider error text
  std::string permanent_pointer;             // code that says "this number/content is refused"
  std::vector<std::string> permanent_values;
  std::string receipt_status;  // "/pointer" into a JSON callback, or a query/form field name
  std::string receipt_id;      // same forms, optional: provider id in the callback
  std::string receipt_reason;  // same forms, optional: why it failed, kept as the error text
  std::map<std::string, DeliveryState> receipt_map;
  std::string mo_from;  // replies (MO): "/pointer" into a JSON post, or a query/form field
  std::string mo_text;

  Channel channel() const override { return Channel::sms; }
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override;
  ReceiptParse parse_receipt(const InboundCallback& cb) const override;
  std::optional<InboundReply> parse_mo(const InboundCallback& cb) const override;

  /// Fills {{to}}, {{to_msisdn}}, {{to_national}}, {{text}}, {{token}}, {{receipt_url}},
  /// {{delivery_id}}, {{coding}}, {{secret.NAME}}; `json_escape` for the JSON body.
  std::string expand(const std::string& tmpl, const OutboundMessage& m, bool json_escape) const;

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);

 protected:
  /// Values a subclass supplies for its own placeholders (nullopt: not one of them).
  using Values = std::function<std::optional<std::string>(const std::string& key)>;
  std::string expand(const std::string& tmpl, const OutboundMessage& m, bool json_escape,
                     const Values& extra) const;
  /// build() with `extra` placeholder values.
  net::HttpRequest build_request(const OutboundMessage& m, const Values& extra) const;
  /// The placeholders config may use besides {{secret.NAME}} (others are refused).
  virtual std::vector<std::string_view> placeholders() const;
  /// Sample values for a subclass's placeholders, to check that a body template becomes
  /// JSON once filled (numbers, say, placed without quotes).
  virtual Values probe_values() const { return nullptr; }
  /// The body template when config gives none; empty: `body` is required.
  virtual std::string default_body() const { return {}; }
  /// Reads every key http_json takes into `g` (a subclass's from_yaml calls it too).
  /// A subclass may set receipt_status and receipt_map before: config then overrides them.
  static void read_settings(HttpJsonGateway& g, const std::string& name, MapReader& r);
};

}  // namespace herald
