#include "zalo/webhook.hpp"

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

}  // namespace herald
