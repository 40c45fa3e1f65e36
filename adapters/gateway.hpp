#pragma once
// A configured gateway: builds provider requests and reads provider answers and
// callbacks. It does no I/O of its own (the dispatcher sends through net::CurlMulti), so
// each adapter is tested with plain inputs and testdata/ fixtures.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/channel.hpp"
#include "net/http.hpp"
#include "render/sms_text.hpp"
#include "settings/secret.hpp"
#include "adapters/send_error.hpp"

namespace herald {

class Diagnostics;
class MapReader;

struct Directive;

/// What a loudspeaker zone gets: the text to read aloud and the audio rendered from it.
/// Built by the dispatcher (render/announcement.hpp), so confidentiality is decided once.
struct Announcement {
  std::string title;   // what the controller's operator sees; never a confidential subject
  std::string script;  // normalised for reading aloud
  std::string audio_url;  // empty when the audio could not be rendered (text only)
  std::string audio_mime;
  int64_t audio_bytes = 0;
  int64_t audio_duration_ms = 0;
  std::string audio_sha256;
  std::string voice;   // northern | central | southern
};

/// What the dispatcher asks a gateway to send.
struct OutboundMessage {
  int64_t delivery_id = 0;
  std::string token;        // unguessable, names the delivery in callbacks
  Channel channel = Channel::sms;
  std::string address;      // E.164 for SMS
  std::string text;
  SmsCoding coding = SmsCoding::gsm7;
  std::string receipt_url;  // where the provider should report: .../hooks/sms/<gw>/<token>
  /// The directive, for channels whose adapter renders its own content (email's subject
  /// and MIME parts, Zalo's text or ZNS template parameters). Never null when sending.
  const Directive* directive = nullptr;
  std::string recipient_name;
  /// The recipient's signed acknowledgement link (/ack/<token>) when the directive needs
  /// acknowledgement; email and Zalo show it.
  std::string ack_url;
  /// Loudspeaker deliveries only (address is then the zone id, recipient_name its name).
  std::optional<Announcement> announcement;
};

struct SendResult {
  SendError error;
  std::string provider_ref;
  int64_t retry_after_ms = 0;  // provider's hint when throttled
};

/// What a provider said about one delivery, as its adapter read it. Every way providers
/// report (a callback per delivery, an event on a shared webhook, a controller's playback
/// report) becomes one; the receipts module (daemon/receipts) applies it.
struct Receipt {
  /// Which delivery: the one the provider's id names, when `find_by_ref` (a shared webhook
  /// names messages so); else, or failing that, the one whose receipt token this is (a
  /// per-delivery callback's URL; ZNS echoes it as its tracking_id).
  bool find_by_ref = false;
  std::string token;
  DeliveryState state = DeliveryState::sent;
  std::string status;        // the provider's own status value, kept in the event
  std::string detail;        // the provider's words: why it failed, say
  std::string provider_ref;  // the provider's id for the message, kept on the delivery
  std::string error_code;    // for failure states
  /// What the audit trail says of it; empty: "status <status> (<detail>)".
  std::string event;
  /// A provider that may post the same event again: applied once under this key.
  std::string once;
};

struct ReceiptParse {
  std::optional<Receipt> receipt;
  std::string error;    // why the callback is malformed (-> 400)
  bool forged = false;  // its signature does not verify (-> 401, nothing looked up)
};

/// A callback as the HTTP layer hands it over (no Beast types in adapters).
struct InboundCallback {
  std::string method;
  std::map<std::string, std::string> query;  // decoded
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased
};

/// A reply a recipient sent (an SMS MO), as far as the gateway understands it.
struct InboundReply {
  std::string from;  // as the provider gives it; the caller normalises
  std::string text;
  /// The provider's own id of the message, when it gives one: a post replayed within
  /// its signature's window is taken once.
  std::string once;
};

/// One post to a gateway's shared webhook (/hooks/<webhook_name()>), read by the gateway
/// whose keys it is checked against.
struct WebhookParse {
  /// Empty when the post is genuine for this gateway; else why not ("signature stale"...).
  std::string refused;
  /// Among refusals, the one to report when no gateway takes the post: the highest.
  int refusal_rank = 0;
  std::string event;  // the provider's name for what happened
  enum class Kind {
    receipts,  // about messages sent: `receipts` (perhaps none could be named)
    reply,     // a recipient wrote: `reply`
    other,     // nothing Herald acts on (follows, clicks...): answered so it is not resent
  } kind = Kind::other;
  std::vector<Receipt> receipts;
  std::optional<InboundReply> reply;
};

struct GatewayLimits {
  double rate_per_s = 0;  // 0: unlimited
  int concurrency = 16;
  int64_t timeout_ms = 10000;
  int breaker_failures = 5;
  int64_t breaker_cooldown_ms = 15000;
};

class Gateway {
 public:
  virtual ~Gateway() = default;
  const std::string& name() const { return name_; }
  const GatewayLimits& limits() const { return limits_; }
  /// Send tiếng Việt không dấu through this gateway (GSM-7, 160 chars per part).
  bool unaccented() const { return unaccented_; }
  /// The secret a reply (MO) must carry: /hooks/<channel>/<gateway>/mo/<mo_token>. Empty:
  /// replies come to /hooks/<channel>/<gateway>/mo unauthenticated.
  const Secret& mo_token() const { return mo_token_; }
  virtual Channel channel() const = 0;
  /// False for gateways that never report delivery (SMTP): their acceptance is as far as
  /// Herald can follow, so it settles a fallback chain instead of waiting for a receipt.
  virtual bool reports_delivery() const { return true; }
  /// Query string the receipt URL needs (Kannel: its %d / %A escapes); may be empty.
  virtual std::string receipt_query() const { return {}; }
  /// A permanent error when this gateway can never send to `m` as addressed (Zalo OA
  /// needs a Zalo user id, ZNS a phone number); the dispatcher then fails the delivery
  /// without a request.
  virtual std::optional<SendError> refuse(const OutboundMessage& m) const {
    (void)m;
    return std::nullopt;
  }
  virtual net::HttpRequest build(const OutboundMessage& m) const = 0;
  virtual SendResult parse(const net::HttpResponse& r) const = 0;
  /// A callback to /hooks/<channel>/<gateway>/<token> (the caller sets the receipt's token).
  virtual ReceiptParse parse_receipt(const InboundCallback& cb) const = 0;
  /// A reply posted to /hooks/<channel>/<gateway>/mo; nullopt when this gateway takes none
  /// or the callback lacks a sender.
  virtual std::optional<InboundReply> parse_mo(const InboundCallback& cb) const {
    (void)cb;
    return std::nullopt;
  }
  /// The name of the webhook URL the provider posts its events for every delivery to
  /// (/hooks/<name>), as opposed to a callback URL per delivery; empty when it has none.
  virtual std::string webhook_name() const { return {}; }
  /// Reads one post to that webhook at `now_ms`, checked against this gateway's keys.
  virtual WebhookParse parse_webhook(const InboundCallback& cb, int64_t now_ms) const {
    (void)cb;
    (void)now_ms;
    return {"no webhook", 0, {}, WebhookParse::Kind::other, {}, {}};
  }

  // ---- credentials that rotate (Zalo's access and refresh tokens) -------------------------
  // When parse() reports token_expired, the dispatcher pauses this gateway, sends
  // refresh_request(), hands the answer to apply_refresh() and persists what it returns
  // (key -> value, e.g. the new refresh token) in the store; restore() gets those values
  // back at start, so a rotated refresh token survives a restart.
  virtual std::optional<net::HttpRequest> refresh_request() const { return std::nullopt; }
  /// True when the new credentials are in place; `persist` receives what must be kept.
  virtual bool apply_refresh(const net::HttpResponse&, std::map<std::string, std::string>& persist) {
    (void)persist;
    return false;
  }
  virtual void restore(const std::map<std::string, std::string>& persisted) { (void)persisted; }

 protected:
  std::string name_;
  GatewayLimits limits_;
  bool unaccented_ = false;
  Secret mo_token_;
  friend void read_common(MapReader& r, Gateway& g);
  friend void read_mo_token(MapReader& r, Gateway& g);
};

/// Reads the settings every gateway shares (rate, concurrency, timeout, breaker,
/// unaccented); each factory calls it.
void read_common(MapReader& r, Gateway& g);
/// `mo_token`, for the gateways that take replies (kannel, http_json).
void read_mo_token(MapReader& r, Gateway& g);

/// Transport-level outcomes every HTTP adapter maps the same way.
SendError transport_error(const net::HttpResponse& r);

/// Gateways by name, as heraldd runs them (adapters/registry.hpp builds them).
using Gateways = std::map<std::string, std::shared_ptr<Gateway>>;

}  // namespace herald
