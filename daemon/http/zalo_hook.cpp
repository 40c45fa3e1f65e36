// POST /hooks/zalo: the one webhook URL a Zalo Official Account posts its events to.
// The signature (app_id and oa_secret_key from the zalo gateways' config) is checked
// before anything else; an unsigned, forged or stale event gets 401 and changes nothing.
// Delivery and read events move deliveries forward, each (msg_id, event) once.
#include <boost/json.hpp>

#include "acks/inbox.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "http/api.hpp"
#include "zalo/webhook.hpp"
#include "zalo/zalo.hpp"

namespace json = boost::json;

namespace herald::http {

namespace {

// What each event Herald acts on means for a delivery.
std::optional<DeliveryState> event_state(const std::string& name) {
  if (name == "user_received_message") return DeliveryState::delivered;
  if (name == "user_seen_message") return DeliveryState::read;
  return std::nullopt;
}

}  // namespace

Response handle_zalo_hook(const Request& req, ApiContext& ctx) {
  if (req.method() != bhttp::verb::post)
    return json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
  std::vector<const ZaloGateway*> gateways;
  if (ctx.gateways)
    for (const auto& [name, g] : *ctx.gateways)
      if (auto* z = dynamic_cast<const ZaloGateway*>(g.get()); z && !z->oa_secret_key.empty())
        gateways.push_back(z);
  if (gateways.empty()) {
    ++ctx.metrics.receipts_rejected;
    return json_reply(req, bhttp::status::not_found, {{"error", "no Zalo gateway with an oa_secret_key"}});
  }
  auto refuse = [&](std::string_view why) {
    ++ctx.metrics.receipts_rejected;
    log::warning("zalo webhook refused: ", why);
    return json_reply(req, bhttp::status::unauthorized, {{"error", why}});
  };
  auto sig = req.find("X-ZEvent-Signature");
  if (sig == req.end()) return refuse("signature missing");
  ZaloEventParse parsed = parse_zalo_event(req.body());
  // Without a timestamp the signature cannot be checked: as good as unsigned.
  if (!parsed.event) return refuse(parsed.error);
  const ZaloEvent& ev = *parsed.event;

  // The gateways whose app this event is signed for (an OA and its ZNS share one app).
  const int64_t now = now_ms();
  ZaloSignature verdict = ZaloSignature::forged;
  std::vector<const ZaloGateway*> signers;
  for (const ZaloGateway* g : gateways) {
    ZaloSignature s = check_zalo_signature(sig->value(), req.body(), ev, g->app_id, g->oa_secret_key.reveal(), now,
                                           g->webhook_tolerance_ms);
    if (s == ZaloSignature::ok) signers.push_back(g);
    else if (s == ZaloSignature::stale || (s == ZaloSignature::missing && verdict == ZaloSignature::forged))
      verdict = s;
  }
  if (signers.empty()) return refuse("signature " + std::string(to_string(verdict)));

  if (ev.name == "user_send_text") {
    // A follower wrote to the OA: perhaps an acknowledgement.
    auto dir = ctx.directory ? ctx.directory() : nullptr;
    if (!dir || ev.sender_id.empty()) return json_reply(req, bhttp::status::ok, {{"event", ev.name}, {"ignored", true}});
    acks::ReplyOutcome out = acks::take_reply(ctx.store, *dir, Channel::zalo, ev.sender_id, ev.text, now);
    if (out.queued_help && ctx.on_queued) ctx.on_queued();
    return json_reply(req, bhttp::status::ok,
                      {{"event", ev.name}, {"outcome", out.outcome}, {"help", out.queued_help}});
  }
  auto state = event_state(ev.name);
  if (!state) {
    // Followers, replies and the rest: acknowledged so Zalo does not retry; nothing to do.
    ++ctx.metrics.receipts_ignored;
    return json_reply(req, bhttp::status::ok, {{"event", ev.name}, {"ignored", true}});
  }
  // Each message the event names; a ZNS event without msg_id still has its tracking_id.
  std::vector<std::string> keys = ev.msg_ids;
  if (keys.empty() && !ev.tracking_id.empty()) keys.push_back("tracking:" + ev.tracking_id);
  json::array results;
  for (const std::string& key : keys) {
    const bool by_tracking = key.rfind("tracking:", 0) == 0;
    std::optional<DeliveryRow> row;
    if (!by_tracking)
      for (const ZaloGateway* g : signers)
        if ((row = ctx.store.delivery_by_provider_ref(g->name(), key))) break;
    // ZNS: the tracking_id is the delivery's token (and the event may beat the send's answer).
    if (!row && ev.tracking_id.size() == 32)
      if (auto t = ctx.store.delivery_by_token(ev.tracking_id))
        for (const ZaloGateway* g : signers)
          if (t->gateway == g->name()) row = t;
    const std::string msg_id = by_tracking ? key.substr(9) : key;
    if (!row) {
      ++ctx.metrics.receipts_ignored;
      results.push_back({{"msg_id", msg_id}, {"unknown", true}});
      continue;
    }
    TransitionRequest t;
    t.to = *state;
    t.cause = Cause::receipt;
    t.source = "receipt:" + row->gateway;
    t.detail = "zalo " + ev.name + " msg_id " + msg_id;
    t.error_code = std::string();  // it got through: an earlier failure no longer applies
    if (!by_tracking) t.provider_ref = key;
    auto r = ctx.store.apply_zalo_event(key, ev.name, row->id, t);
    if (!r) {
      ++ctx.metrics.receipts_ignored;
      results.push_back({{"msg_id", msg_id}, {"delivery", row->id}, {"duplicate", true}});
      continue;
    }
    if (r->applied) ++ctx.metrics.receipts_applied;
    else ++ctx.metrics.receipts_ignored;
    results.push_back({{"msg_id", msg_id}, {"delivery", row->id}, {"applied", r->applied},
                       {"state", to_string(r->state)}});
  }
  return json_reply(req, bhttp::status::ok, {{"event", ev.name}, {"results", std::move(results)}});
}

}  // namespace herald::http
