#include "adapters/zalo/webhook.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <charconv>

#include <boost/json.hpp>

namespace json = boost::json;

namespace herald {

namespace {

std::string scalar_text(const json::value* v) {
  if (!v || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64() || v->is_uint64()) return json::serialize(*v);
  return {};
}

}  // namespace

ZaloEventParse parse_zalo_event(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return {std::nullopt, "event body is not a JSON object"};
  const json::object& o = v.as_object();
  ZaloEvent e;
  e.name = scalar_text(o.if_contains("event_name"));
  e.app_id = scalar_text(o.if_contains("app_id"));
  e.timestamp = scalar_text(o.if_contains("timestamp"));
  const char* end = e.timestamp.data() + e.timestamp.size();
  auto [p, err] = std::from_chars(e.timestamp.data(), end, e.timestamp_ms);
  if (e.timestamp.empty() || err != std::errc() || p != end) return {std::nullopt, "event has no timestamp"};
  if (const json::value* m = o.if_contains("message"); m && m->is_object()) {
    const json::object& msg = m->as_object();
    if (auto id = scalar_text(msg.if_contains("msg_id")); !id.empty()) e.msg_ids.push_back(id);
    // user_seen_message lists the messages seen; some senders use msg_id alone.
    if (const json::value* ids = msg.if_contains("msg_ids"); ids && ids->is_array())
      for (const auto& id : ids->as_array())
        if (auto s = scalar_text(&id); !s.empty()) e.msg_ids.push_back(s);
    e.tracking_id = scalar_text(msg.if_contains("tracking_id"));
    e.text = scalar_text(msg.if_contains("text"));
  }
  if (const json::value* sender = o.if_contains("sender"); sender && sender->is_object())
    e.sender_id = scalar_text(sender->as_object().if_contains("id"));
  if (e.tracking_id.empty()) e.tracking_id = scalar_text(o.if_contains("tracking_id"));
  return {std::move(e), {}};
}

std::string zalo_event_mac(std::string_view app_id, std::string_view body, std::string_view timestamp,
                           std::string_view secret_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, app_id.data(), app_id.size()) == 1 &&
            EVP_DigestUpdate(ctx, body.data(), body.size()) == 1 &&
            EVP_DigestUpdate(ctx, timestamp.data(), timestamp.size()) == 1 &&
            EVP_DigestUpdate(ctx, secret_key.data(), secret_key.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string_view to_string(ZaloSignature s) {
  switch (s) {
    case ZaloSignature::ok: return "ok";
    case ZaloSignature::missing: return "missing";
    case ZaloSignature::forged: return "forged";
    case ZaloSignature::stale: return "stale";
  }
  return "forged";
}

ZaloSignature check_zalo_signature(std::string_view header, std::string_view body, const ZaloEvent& event,
                                   std::string_view app_id, std::string_view secret_key, int64_t now_ms,
                                   int64_t tolerance_ms) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  constexpr std::string_view kMac = "mac=";
  if (header.size() <= kMac.size() || header.substr(0, kMac.size()) != kMac) return ZaloSignature::missing;
  std::string given(header.substr(kMac.size()));
  for (char& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string expected = zalo_event_mac(app_id, body, event.timestamp, secret_key);
  // The length of a SHA-256 hex digest is no secret; its content is compared in constant time.
  if (expected.empty() || given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
    return ZaloSignature::forged;
  if (event.timestamp_ms < now_ms - tolerance_ms || event.timestamp_ms > now_ms + tolerance_ms)
    return ZaloSignature::stale;
  return ZaloSignature::ok;
}

WebhookParse read_zalo_webhook(const InboundCallback& cb, std::string_view app_id, std::string_view secret_key,
                               int64_t now_ms, int64_t tolerance_ms) {
  WebhookParse out;
  auto sig = cb.headers.find("x-zevent-signature");
  // Refusals every gateway gives alike rank above those about its own keys; among those,
  // a stale genuine signature says more than a missing one, and that more than a forged one.
  if (sig == cb.headers.end()) {
    out.refused = "signature missing";
    out.refusal_rank = 10;
    return out;
  }
  ZaloEventParse parsed = parse_zalo_event(cb.body);
  // Without a timestamp the signature cannot be checked: as good as unsigned.
  if (!parsed.event) {
    out.refused = parsed.error;
    out.refusal_rank = 10;
    return out;
  }
  const ZaloEvent& ev = *parsed.event;
  const ZaloSignature s = check_zalo_signature(sig->second, cb.body, ev, app_id, secret_key, now_ms, tolerance_ms);
  if (s != ZaloSignature::ok) {
    out.refused = "signature " + std::string(to_string(s));
    out.refusal_rank = s == ZaloSignature::stale ? 3 : s == ZaloSignature::missing ? 2 : 1;
    return out;
  }
  out.event = ev.name;
  if (ev.name == "user_send_text") {
    // A follower wrote to the OA: perhaps an acknowledgement.
    out.kind = WebhookParse::Kind::reply;
    if (!ev.sender_id.empty()) {
      // Zalo's msg_id names the message; without one, the signed timestamp does (a replay
      // carries the same). Either way a replayed post acknowledges and answers once.
      std::string key = !ev.msg_ids.empty() ? ev.msg_ids.front() : "at " + ev.timestamp;
      out.reply = InboundReply{ev.sender_id, ev.text, "zalo:user_send_text:" + ev.sender_id + ":" + key};
    }
    return out;
  }
  std::optional<DeliveryState> state;
  if (ev.name == "user_received_message") state = DeliveryState::delivered;
  if (ev.name == "user_seen_message") state = DeliveryState::read;
  if (!state) return out;  // followers, clicks and the rest: nothing to do
  out.kind = WebhookParse::Kind::receipts;
  auto receipt = [&](const std::string& msg_id) {
    Receipt r;
    r.state = *state;
    r.status = ev.name;
    r.event = "zalo " + ev.name + " msg_id " + msg_id;
    return r;
  };
  // Each message the event names; a ZNS event without msg_id still has its tracking_id.
  for (const std::string& msg_id : ev.msg_ids) {
    Receipt r = receipt(msg_id);
    r.find_by_ref = true;
    r.provider_ref = msg_id;
    // ZNS: the tracking_id is the delivery's token (and the event may beat the send's answer).
    if (ev.tracking_id.size() == 32) r.token = ev.tracking_id;
    r.once = "zalo:" + ev.name + ":" + msg_id;  // Zalo resends an event it thinks unanswered
    out.receipts.push_back(std::move(r));
  }
  if (ev.msg_ids.empty() && !ev.tracking_id.empty()) {
    Receipt r = receipt(ev.tracking_id);
    r.token = ev.tracking_id;
    r.once = "zalo:" + ev.name + ":tracking:" + ev.tracking_id;
    out.receipts.push_back(std::move(r));
  }
  return out;
}

}  // namespace herald
