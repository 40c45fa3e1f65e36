#pragma once
// A provider's HTTP API described by configuration rather than code: the request (URL,
// method, headers, secrets, a JSON body template with {{placeholders}}), how its answers
// read (JSON pointers), and how its callbacks read (the receipt's status, the provider's
// message id and reason; a reply's sender and text). The gateways whose providers differ
// only in such details each hold one: http_json (SMS), http_email, loudspeaker_http. It is
// not a gateway itself: each of those decides what its placeholders mean.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/gateway.hpp"
#include "settings/secret.hpp"

namespace herald {

class MapReader;

/// A placeholder's value for one message; nullopt when `key` is not one the caller fills.
using TemplateValues = std::function<std::optional<std::string>(const std::string& key)>;

/// The values every outbound message offers: {{to}}, {{token}}, {{receipt_url}},
/// {{delivery_id}}. `own` is asked first.
TemplateValues message_values(const OutboundMessage& m, TemplateValues own = nullptr);

/// How a provider's answer to a send reads.
struct ResponseMapping {
  std::string success_pointer;  // e.g. /CodeResult; empty: any 2xx is success
  std::string success_value;    // e.g. "100"
  std::string id_pointer;       // provider message id
  std::string error_pointer;    // provider error text
  std::string permanent_pointer;  // code that says "this number/content is refused"
  std::vector<std::string> permanent_values;
};

/// How a provider signs its callbacks, where it does: HMAC-SHA256 over the raw body with a
/// key shared with it, hex or base64, in a header (after an optional prefix such as
/// "sha256="). With it configured, a callback whose signature does not verify is refused
/// before anything is looked up.
struct CallbackSignature {
  std::string header;  // lowercased
  Secret key;
  bool base64 = false;  // else hex (either case)
  std::string prefix;
};

/// How a provider's delivery report reads: "/pointer" into a JSON callback, or a query or
/// form field name.
struct ReceiptMapping {
  std::string status;
  std::string id;      // optional: the provider's id in the callback
  std::string reason;  // optional: why it failed, kept as the error text
  std::map<std::string, DeliveryState> map;
  std::optional<CallbackSignature> signature;  // receipts and replies alike
};

/// How a reply (MO) posted by the provider reads, in the same forms.
struct ReplyMapping {
  std::string from;
  std::string text;
};

class HttpTemplate {
 public:
  /// What a gateway type brings to the template it reads from config.
  struct Type {
    /// The placeholders its templates may use besides {{secret.NAME}} (others are refused).
    std::vector<std::string_view> placeholders;
    /// Sample values, to check that a body template becomes JSON once filled (numbers,
    /// say, placed without quotes).
    TemplateValues probe;
    /// The body template when config gives none; empty: `body` is required.
    std::string default_body;
  };

  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;  // values may use {{...}}
  std::map<std::string, Secret> secrets;                     // {{secret.NAME}}
  std::string body;                                          // JSON template
  ResponseMapping response;
  ReceiptMapping receipt;  // preset by a type with defaults: config then overrides them
  ReplyMapping reply;

  /// How a value goes into its place: as is, JSON-escaped (the body), percent-encoded
  /// (the URL: directive text cannot add a query parameter or a path).
  enum class Escape { none, json, url };
  /// `tmpl` with each {{key}} replaced by its value (secrets by theirs; unknown keys by
  /// nothing), escaped for its place.
  std::string expand(const std::string& tmpl, const TemplateValues& values, Escape escape) const;
  /// The request for one message.
  net::HttpRequest request(const TemplateValues& values, int64_t timeout_ms) const;
  /// A header whose filled-in value holds a control character (CR or LF would start a
  /// header of the message's choosing): the send is refused, never made.
  std::optional<SendError> refuse(const TemplateValues& values) const;
  /// The provider's answer on the shared error set.
  SendResult parse(const net::HttpResponse& r) const;
  ReceiptParse parse_receipt(const InboundCallback& cb) const;
  /// True without a configured signature, else when the callback's verifies.
  bool signature_ok(const InboundCallback& cb) const;
  /// nullopt when no reply mapping is configured, or the callback names no sender.
  std::optional<InboundReply> parse_reply(const InboundCallback& cb) const;

  /// Reads url, method, headers, secrets, body, response, receipt and mo from `r`, each
  /// template checked against `type`'s placeholders.
  void read(MapReader& r, const Type& type);
};

}  // namespace herald
