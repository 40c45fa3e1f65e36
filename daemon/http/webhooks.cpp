// POST /hooks/<name>: the one webhook URL a provider posts its events for all deliveries to
// (Zalo's OA: /hooks/zalo), as opposed to a callback URL per delivery. Each gateway that
// takes it checks the post against its own keys first; a post no gateway finds genuine
// (unsigned, forged, stale) gets 401 and changes nothing. What the genuine gateways read
// is applied by the receipts module (each message named, once) or taken as a reply.
#include <cctype>

#include <boost/json.hpp>

#include "acks/inbox.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "http/api.hpp"
#include "receipts/receipts.hpp"
#include "store/writer.hpp"

namespace json = boost::json;

namespace herald::http {

namespace {

// The message a receipt was about, as the answer names it.
std::string message_of(const Receipt& r) { return r.find_by_ref ? r.provider_ref : r.token; }

}  // namespace

void handle_webhook(std::shared_ptr<const Request> req, ApiContext& ctx, const std::string& name, Respond respond) {
  if (req->method() != bhttp::verb::post)
    return respond(json_reply(*req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}}));
  std::vector<const Gateway*> takers;
  if (ctx.gateways)
    for (const auto& [gname, g] : *ctx.gateways)
      if (g->webhook_name() == name) takers.push_back(g.get());
  if (takers.empty()) {
    ++ctx.metrics.receipts_rejected;
    return respond(json_reply(*req, bhttp::status::not_found, {{"error", "no gateway takes events at /hooks/" + name}}));
  }
  // The gateways this post is genuine for (an OA and its ZNS share one app, and its keys).
  const InboundCallback cb = callback_of(*req);
  const int64_t now = now_ms();
  std::vector<std::string> signers;
  WebhookParse parsed, refusal;
  for (const Gateway* g : takers) {
    WebhookParse p = g->parse_webhook(cb, now);
    if (p.refused.empty()) {
      if (signers.empty()) parsed = std::move(p);
      signers.push_back(g->name());
    } else if (refusal.refused.empty() || p.refusal_rank > refusal.refusal_rank) {
      refusal = std::move(p);
    }
  }
  if (signers.empty()) {
    ++ctx.metrics.receipts_rejected;
    log::warning(name, " webhook refused: ", refusal.refused);
    return respond(json_reply(*req, bhttp::status::unauthorized, {{"error", refusal.refused}}));
  }
  const std::string event = parsed.event;
  if (parsed.kind == WebhookParse::Kind::reply) {
    // A recipient wrote: perhaps an acknowledgement.
    auto dir = ctx.directory ? ctx.directory() : nullptr;
    if (!dir || !parsed.reply) return respond(json_reply(*req, bhttp::status::ok, {{"event", event}, {"ignored", true}}));
    run_store_work(
        ctx.writer, ctx.store,
        [dir, reply = std::move(*parsed.reply)](Store& s) {
          const int64_t now = now_ms();
          if (!reply.once.empty() && !s.first_reply(reply.once, now))
            return acks::ReplyOutcome{"duplicate", {}, {}, false};  // a replay: taken before
          return acks::take_reply(s, *dir, Channel::zalo, reply.from, reply.text, now);
        },
        [req, &ctx, event, respond](std::optional<acks::ReplyOutcome>&& out, const std::string& error) {
          if (!error.empty()) {
            log::error("reply not recorded: store: ", error);
            return respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
          }
          if (out->queued_help && ctx.on_queued) ctx.on_queued();
          respond(json_reply(*req, bhttp::status::ok,
                             {{"event", event}, {"outcome", out->outcome}, {"help", out->queued_help}}));
        });
    return;
  }
  if (parsed.kind == WebhookParse::Kind::other) {
    // Followers, clicks and the rest: answered so the provider does not retry; nothing to do.
    ++ctx.metrics.receipts_ignored;
    return respond(json_reply(*req, bhttp::status::ok, {{"event", event}, {"ignored", true}}));
  }
  std::vector<std::string> messages;
  for (const Receipt& r : parsed.receipts) messages.push_back(message_of(r));
  receipts::Applier(ctx.store, ctx.writer)
      .apply(std::move(parsed.receipts), std::move(signers),
             [req, &ctx, event, messages = std::move(messages), respond](std::vector<receipts::Outcome>&& out,
                                                                        const std::string& error) {
               if (!error.empty()) {
                 log::error("webhook events not recorded: store: ", error);
                 return respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
               }
               json::array results;
               for (size_t i = 0; i < out.size(); ++i) {
                 const receipts::Outcome& o = out[i];
                 switch (o.kind) {
                   case receipts::Outcome::Kind::unknown:
                     ++ctx.metrics.receipts_ignored;
                     results.push_back({{"msg_id", messages[i]}, {"unknown", true}});
                     break;
                   case receipts::Outcome::Kind::duplicate:
                     ++ctx.metrics.receipts_ignored;
                     results.push_back({{"msg_id", messages[i]}, {"delivery", o.delivery_id}, {"duplicate", true}});
                     break;
                   case receipts::Outcome::Kind::applied:
                   case receipts::Outcome::Kind::unchanged: {
                     const bool applied = o.kind == receipts::Outcome::Kind::applied;
                     ++(applied ? ctx.metrics.receipts_applied : ctx.metrics.receipts_unchanged);
                     results.push_back({{"msg_id", messages[i]}, {"delivery", o.delivery_id}, {"applied", applied},
                                        {"state", to_string(o.state)}});
                   }
                 }
               }
               respond(json_reply(*req, bhttp::status::ok, {{"event", event}, {"results", std::move(results)}}));
             });
}

}  // namespace herald::http
