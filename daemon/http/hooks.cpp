// /hooks/<channel>/<gateway>/<token>: a provider's callback about one delivery, named by
// its unguessable token; and /hooks/<channel>/<gateway>/mo[/<mo_token>]: a recipient's reply
// through that gateway. An unknown or forged token gets 404 and changes nothing, a malformed
// callback 400, one whose signature does not verify 401; the receipts module applies the
// rest (a receipt that moves the delivery is an event; one that moves nothing writes
// nothing and is counted), and the provider hears 200 only once it is committed.
#include <cctype>
#include <mutex>
#include <set>

#include "acks/inbox.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "http/api.hpp"
#include "receipts/receipts.hpp"
#include "store/writer.hpp"

namespace herald::http {

InboundCallback callback_of(const Request& req, const std::map<std::string, std::string>& query) {
  InboundCallback cb;
  cb.method = std::string(req.method_string());
  cb.query = query;
  cb.body = req.body();
  if (auto ct = req.find(bhttp::field::content_type); ct != req.end()) cb.content_type = std::string(ct->value());
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    cb.headers[name] = std::string(f.value());
  }
  return cb;
}

namespace {

Response store_unavailable(const Request& req) {
  return json_reply(req, bhttp::status::service_unavailable, {{"error", "store unavailable"}});
}

// A reply (MO) from a recipient. The answer's body is what Kannel's sms-service sends back
// to the phone: help for a reply Herald could not place, nothing otherwise.
void handle_mo(std::shared_ptr<const Request> req, ApiContext& ctx, const Gateway& gw,
               const std::map<std::string, std::string>& query, Respond respond) {
  if (gw.mo_token().empty()) {
    static std::mutex mu;
    static std::set<std::string> warned;
    std::lock_guard lock(mu);
    if (warned.insert(gw.name()).second)
      log::warning("gateway ", gw.name(), " took a reply without mo_token: anyone who can reach "
                   "/hooks can post replies and acknowledge for a recipient; set gateways.",
                   gw.name(), ".mo_token and put it in the reply URL");
  }
  auto reply = gw.parse_mo(callback_of(*req, query));
  if (!reply) return respond(json_reply(*req, bhttp::status::bad_request, {{"error", "not a reply this gateway understands"}}));
  auto dir = ctx.directory ? ctx.directory() : nullptr;
  if (!dir) return respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "no directory"}}));
  run_store_work(
      ctx.writer, ctx.store,
      [dir, channel = gw.channel(), reply = std::move(*reply)](Store& s) {
        return acks::take_reply(s, *dir, channel, reply.from, reply.text, now_ms());
      },
      [req, respond = std::move(respond)](std::optional<acks::ReplyOutcome>&& out, const std::string& error) {
        if (!error.empty()) {
          log::error("reply not recorded: store: ", error);
          return respond(store_unavailable(*req));
        }
        Response res{bhttp::status::ok, req->version()};
        res.set(bhttp::field::server, "heraldd");
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.set("X-Herald-Outcome", out->outcome);
        res.keep_alive(req->keep_alive());
        res.body() = out->answer;
        res.prepare_payload();
        respond(std::move(res));
      });
}

}  // namespace

void handle_hook(std::shared_ptr<const Request> req, ApiContext& ctx, const std::vector<std::string>& segs,
                 const std::map<std::string, std::string>& query, Respond respond) {
  // segs: "hooks", channel, gateway, token (or "mo" [, mo_token])
  if (req->method() != bhttp::verb::get && req->method() != bhttp::verb::post)
    return respond(json_reply(*req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}}));
  auto reject = [&](bhttp::status status, const std::string& why) {
    ++ctx.metrics.receipts_rejected;
    respond(json_reply(*req, status, {{"error", why}}));
  };
  if (segs.size() < 4 || segs.size() > 5 || !ctx.gateways) return reject(bhttp::status::not_found, "no such hook");
  auto channel = parse_channel(segs[1]);
  auto it = ctx.gateways->find(segs[2]);
  if (!channel || it == ctx.gateways->end() || it->second->channel() != *channel)
    return reject(bhttp::status::not_found, "no such hook");
  const Gateway& gw = *it->second;
  if (segs[3] == "mo") {
    // A reply becomes an acknowledgement: with mo_token set, only a caller that knows it
    // (the gateway, through its configured URL) can post one.
    const Secret& secret = gw.mo_token();
    const bool ok = secret.empty() ? segs.size() == 4 : segs.size() == 5 && constant_time_equal(segs[4], secret.reveal());
    if (!ok) return reject(bhttp::status::not_found, "no such hook");
    return handle_mo(std::move(req), ctx, gw, query, std::move(respond));
  }
  if (segs.size() != 4) return reject(bhttp::status::not_found, "no such hook");
  const std::string& token = segs[3];
  if (token.size() != 32) return reject(bhttp::status::not_found, "unknown delivery");
  ReceiptParse parsed = gw.parse_receipt(callback_of(*req, query));
  // A provider that signs its callbacks: an unsigned or wrongly signed one is refused
  // before the token is looked up, so it learns nothing about which tokens exist.
  if (parsed.forged) return reject(bhttp::status::unauthorized, "signature does not verify");
  receipts::Applier applier(ctx.store, ctx.writer);
  if (!parsed.receipt) {
    // Malformed: a bad request if the token names one of this gateway's deliveries, else
    // as unknown as any other guess.
    applier.known(token, gw.name(), [req, &ctx, respond, why = parsed.error](bool found, const std::string& error) {
      if (!error.empty()) return respond(store_unavailable(*req));
      ++ctx.metrics.receipts_rejected;
      respond(found ? json_reply(*req, bhttp::status::bad_request, {{"error", why}})
                    : json_reply(*req, bhttp::status::not_found, {{"error", "unknown delivery"}}));
    });
    return;
  }
  parsed.receipt->token = token;
  applier.apply({std::move(*parsed.receipt)}, {gw.name()},
                [req, &ctx, respond](std::vector<receipts::Outcome>&& out, const std::string& error) {
                  if (!error.empty()) {
                    log::error("receipt not recorded: store: ", error);
                    return respond(store_unavailable(*req));
                  }
                  const receipts::Outcome& o = out.front();
                  if (o.kind == receipts::Outcome::Kind::unknown) {
                    ++ctx.metrics.receipts_rejected;
                    return respond(json_reply(*req, bhttp::status::not_found, {{"error", "unknown delivery"}}));
                  }
                  const bool applied = o.kind == receipts::Outcome::Kind::applied;
                  if (o.kind == receipts::Outcome::Kind::duplicate) ++ctx.metrics.receipts_ignored;
                  else ++(applied ? ctx.metrics.receipts_applied : ctx.metrics.receipts_unchanged);
                  respond(json_reply(*req, bhttp::status::ok,
                                     {{"delivery", o.delivery_id}, {"applied", applied}, {"state", to_string(o.state)}}));
                });
}

}  // namespace herald::http
