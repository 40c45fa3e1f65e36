#pragma once
// Email over SMTP (libcurl through net::CurlMulti): STARTTLS or implicit TLS, optional
// AUTH, and a hand-built MIME message with a Message-ID stable per delivery, so a resend
// after a crash is recognisable as the same message. SMTP has no receipts: 250 = `sent`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "settings/secret.hpp"
#include "adapters/gateway.hpp"

namespace herald {

class SmtpGateway final : public Gateway {
 public:
  enum class StartTls { required, optional, off };

  std::string url;  // smtp://host:port or smtps://host:port
  StartTls starttls = StartTls::required;
  std::string username;
  std::optional<Secret> password;
  std::string from;       // envelope sender and From address
  std::string from_name;  // display name, may be Vietnamese
  std::string reply_to;
  std::string message_id_domain;
  /// The Date header's clock (tests fix it).
  std::function<int64_t()> clock;

  Channel channel() const override { return Channel::email; }
  // SMTP's 250 is as far as Herald can follow a message; no receipt ever comes.
  bool reports_delivery() const override { return false; }
  std::optional<SendError> refuse(const OutboundMessage& m) const override;
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override;
  /// SMTP gives no receipts: every callback is refused.
  ReceiptParse parse_receipt(const InboundCallback& cb) const override;

  /// The MIME message for `m` (what build() uploads).
  std::string message(const OutboundMessage& m) const;

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);
};

/// An SMTP reply code as the shared error set: 4xx retryable, 5xx mailbox refusals
/// permanent, 530/535 our credentials.
SendError smtp_error(long code, const std::string& text);

}  // namespace herald
