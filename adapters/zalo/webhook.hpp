#pragma once
// The OA webhook's pure parts: its signature check, its events, and what they report as
// Herald's receipts and replies, tested with plain inputs. The HTTP handler
// (daemon/http/webhooks.cpp) hands a post to each Zalo gateway, the receipts module applies
// what the genuine one read.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/gateway.hpp"

namespace herald {

/// One event the OA webhook posts, as far as Herald uses it.
struct ZaloEvent {
  std::string name;        // event_name: user_received_message, user_seen_message, ...
  std::string app_id;
  std::string timestamp;   // as written in the body (ms): part of the signed text
  int64_t timestamp_ms = 0;
  std::vector<std::string> msg_ids;  // message.msg_id, or each of message.msg_ids
  std::string tracking_id;           // ZNS: the tracking_id we sent (the delivery token)
  std::string sender_id;             // user_send_text: the follower who wrote
  std::string text;                  // user_send_text: what they wrote
};

struct ZaloEventParse {
  std::optional<ZaloEvent> event;
  std::string error;
};

/// Reads an event body; fails only when it is not a JSON object with a timestamp.
ZaloEventParse parse_zalo_event(std::string_view body);

/// hex(sha256(app_id + raw_body + timestamp + secret_key)), lowercase.
std::string zalo_event_mac(std::string_view app_id, std::string_view body, std::string_view timestamp,
                           std::string_view secret_key);

enum class ZaloSignature { ok, missing, forged, stale };
std::string_view to_string(ZaloSignature s);

/// Checks `X-ZEvent-Signature: mac=<hex>` against the body in constant time, then that
/// the event's time is within `tolerance_ms` of `now_ms` either way (a replayed old event
/// is refused even with its genuine signature).
ZaloSignature check_zalo_signature(std::string_view header, std::string_view body, const ZaloEvent& event,
                                   std::string_view app_id, std::string_view secret_key, int64_t now_ms,
                                   int64_t tolerance_ms);

/// One post to the OA webhook, checked against one app's keys at `now_ms`: refused (the
/// signature header missing, not an event, the signature forged or stale), or what it
/// reports. user_received_message and user_seen_message are receipts (delivered, read) for
/// each message they name by msg_id, or by the tracking_id ZNS echoes (the delivery's
/// token), each applied once; user_send_text is a reply.
WebhookParse read_zalo_webhook(const InboundCallback& cb, std::string_view app_id, std::string_view secret_key,
                               int64_t now_ms, int64_t tolerance_ms);

}  // namespace herald
