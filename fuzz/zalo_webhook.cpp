// POST /hooks/zalo: the OA webhook's event parser and signature check, and the receipts
// and replies a post comes to (zalo/webhook.hpp), plus the OA API's answers to sends and
// token refreshes, which the same JSON code reads.
// Input: line 1 the X-ZEvent-Signature header ("mac=<hex>"), the rest the body.
#include <cctype>

#include "callback.hpp"
#include "settings/redact.hpp"
#include "adapters/zalo/webhook.hpp"
#include "adapters/zalo/zalo.hpp"

using namespace herald;

namespace {

// adapters/zalo/testdata/oa.yaml and its signatures.json: the seeds' genuine signatures
// verify at kNowMs, so the fuzzer starts from events that pass the check.
constexpr int64_t kNowMs = 1626080000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Gateway> oa = fuzz::gateway("zalo-oa", R"(type: zalo_oa
base_url: https://openapi.zalo.me/
app_id: "4318129834957112345"
secret_key: fuzz-app-secret
oa_secret_key: "oa-webhook-key-1"
access_token: "oa-access-1"
refresh_token: "oa-refresh-1"
webhook_tolerance: 2m
)");
  const auto& zalo = static_cast<const ZaloGateway&>(*oa);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view header = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  ZaloEventParse parsed = parse_zalo_event(body);
  if (parsed.event.has_value() == !parsed.error.empty()) std::abort();  // one or the other
  bool genuine = false;
  if (parsed.event) {
    const ZaloSignature sig = check_zalo_signature(header, body, *parsed.event, zalo.app_id,
                                                   zalo.oa_secret_key.reveal(), kNowMs, zalo.webhook_tolerance_ms);
    // The oracle: a post the check accepts carries exactly the MAC the key gives (hex,
    // either case, spaces around) and a timestamp within the tolerance. Anything else it
    // accepts is a bypass.
    std::string_view h = header;
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    std::string given(h);
    if (given.rfind("mac=", 0) == 0)  // the hex in either case; "mac=" itself as written
      for (size_t i = 4; i < given.size(); ++i)
        given[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(given[i])));
    const std::string want =
        "mac=" + zalo_event_mac(zalo.app_id, body, parsed.event->timestamp, zalo.oa_secret_key.reveal());
    const bool fresh = parsed.event->timestamp_ms >= kNowMs - zalo.webhook_tolerance_ms &&
                       parsed.event->timestamp_ms <= kNowMs + zalo.webhook_tolerance_ms;
    genuine = given == want && fresh;
    if ((sig == ZaloSignature::ok) != genuine) std::abort();
  }
  // The whole post as heraldd reads it: refused, or receipts each naming a message.
  InboundCallback cb;
  cb.method = "POST";
  cb.content_type = "application/json";
  cb.body = std::string(body);
  cb.headers["x-zevent-signature"] = std::string(header);
  WebhookParse post = zalo.parse_webhook(cb, kNowMs);
  if (post.refused.empty() == (post.refusal_rank != 0)) std::abort();  // a refusal has its rank
  if (post.refused.empty() && !genuine) std::abort();                   // taken only when genuine
  for (const Receipt& r : post.receipts)
    if (r.once.empty() || (r.find_by_ref ? r.provider_ref : r.token).empty()) std::abort();  // once, by a name

  net::HttpResponse res;
  res.status = 200;
  res.body = std::string(body);
  (void)zalo.parse(res);
  // A copy, so one input's refreshed tokens never reach the next input (determinism).
  ZaloOaGateway copy = static_cast<const ZaloOaGateway&>(*oa);
  std::map<std::string, std::string> persist;
  if (copy.apply_refresh(res, persist) != !persist.empty()) std::abort();
  forget_secrets();  // apply_refresh remembers the new tokens for redaction; this input's only
  return 0;
}
