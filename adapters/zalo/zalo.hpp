#pragma once
// Zalo gateways: Official Account customer-service messages (zalo_oa, to a Zalo user id)
// and ZNS template messages (zalo_zns, to a phone number). Both share the app's id and
// keys, the OA's rotating access / refresh tokens, and one error table.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "settings/secret.hpp"
#include "adapters/gateway.hpp"

namespace herald {

/// What the OA API and ZNS have in common: credentials, their refresh, answers.
class ZaloGateway : public Gateway {
 public:
  std::string base_url;   // https://openapi.zalo.me (OA), https://business.openapi.zalo.me (ZNS)
  std::string oauth_url = "https://oauth.zaloapp.com";
  std::string app_id;
  Secret secret_key;      // the app's secret key (App Secret Key): refresh requests
  Secret oa_secret_key;   // the linked OA's secret key (OA Secret Key): webhook signatures
  Secret access_token;    // current one; replaced by refreshes
  Secret refresh_token;   // rotates: every refresh returns a new one, the old is spent
  int64_t webhook_tolerance_ms = 5 * 60 * 1000;

  Channel channel() const override { return Channel::zalo; }
  SendResult parse(const net::HttpResponse& r) const override;
  /// Zalo reports through the OA webhook (/hooks/zalo), never a per-delivery URL.
  ReceiptParse parse_receipt(const InboundCallback&) const override {
    return {std::nullopt, "Zalo events come to /hooks/zalo"};
  }
  /// The OA webhook, /hooks/zalo: only with an oa_secret_key to check its signatures by.
  std::string webhook_name() const override { return oa_secret_key.empty() ? std::string() : "zalo"; }
  WebhookParse parse_webhook(const InboundCallback& cb, int64_t now_ms) const override;

  std::optional<net::HttpRequest> refresh_request() const override;
  bool apply_refresh(const net::HttpResponse& r, std::map<std::string, std::string>& persist) override;
  void restore(const std::map<std::string, std::string>& persisted) override;

 protected:
  /// The JSON POST every Zalo call is, with the access_token header.
  net::HttpRequest post_json(const std::string& url, std::string body) const;
  /// Where the message id sits in a success answer ("message_id" OA, "msg_id" ZNS).
  virtual const char* id_field() const = 0;
  /// Reads the keys both types share; `default_base` when base_url is absent.
  void read_shared(MapReader& r, const char* default_base);
};

/// Customer-service text from the OA to a follower, by Zalo user id.
class ZaloOaGateway final : public ZaloGateway {
 public:
  static constexpr size_t kMaxText = 2000;  // characters, as Zalo counts them

  net::HttpRequest build(const OutboundMessage& m) const override;
  std::optional<SendError> refuse(const OutboundMessage& m) const override;
  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);

 protected:
  const char* id_field() const override { return "message_id"; }
};

/// A registered ZNS template sent by phone number; its parameters come from the directive.
class ZaloZnsGateway final : public ZaloGateway {
 public:
  std::string template_id;
  /// Template parameter -> directive field (kZnsFields).
  std::vector<std::pair<std::string, std::string>> template_data;

  net::HttpRequest build(const OutboundMessage& m) const override;
  std::optional<SendError> refuse(const OutboundMessage& m) const override;
  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);

 protected:
  const char* id_field() const override { return "msg_id"; }
};

/// Directive fields a ZNS template parameter may take.
inline constexpr const char* kZnsFields[] = {"number",       "issuer",         "subject",
                                             "summary",      "issued_date",    "recipient_name",
                                             "ack_code",     "ack_link",       "urgency"};

/// The OA text for a directive, at most `max_chars` code points: number, issuer, subject,
/// then the summary or the body, shortened to fit. Mật and above: only a notice.
std::string render_zalo_text(const Directive& d, const std::string& recipient_name, size_t max_chars);

/// One ZNS template value from the directive (kZnsFields); `receipt_url` gives the public
/// base for ack_link.
std::string zns_field(const std::string& field, const OutboundMessage& m);

/// "+84912000126" -> "84912000126"; empty when the address is not a phone number.
std::string zalo_phone(const std::string& address);

/// A Zalo error code and what it means on the shared error set.
struct ZaloErrorRow {
  int code;
  SendErrorKind kind;
  const char* meaning;
};
SendError zalo_error(int code, const std::string& message);

}  // namespace herald
