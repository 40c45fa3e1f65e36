// Provider callbacks: delivery receipts. A callback names its delivery by an unguessable
// token; an unknown or forged token gets 404 and changes nothing, a malformed callback
// 400, and every accepted receipt becomes an event whether or not it moves the state.
#include <boost/json.hpp>
#include <mutex>
#include <set>

#include "acks/inbox.hpp"
#include "settings/redact.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "http/api.hpp"

namespace json = boost::json;

namespace herald::http {

namespace {

// A reply (MO) from a recipient. The answer's body is what Kannel's sms-service sends back
// to the phone: help for a reply Herald could not place, nothing otherwise.
Response handle_mo(const Request& req, ApiContext& ctx, const Gateway& gw,
                   const std::map<std::string, std::string>& query) {
  InboundCallback cb;
  cb.method = std::string(req.method_string());
  cb.query = query;
  cb.body = req.body();
  if (auto ct = req.find(bhttp::field::content_type); ct != req.end()) cb.content_type = std::string(ct->value());
  auto reply = gw.parse_mo(cb);
  if (!reply) return json_reply(req, bhttp::status::bad_request, {{"error", "not a reply this gateway understands"}});
  auto dir = ctx.directory ? ctx.directory() : nullptr;
  if (!dir) return json_reply(req, bhttp::status::service_unavailable, {{"error", "no directory"}});
  acks::ReplyOutcome out = acks::take_reply(ctx.store, *dir, gw.channel(), reply->from, reply->text, now_ms());
  Response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::server, "heraldd");
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set("X-Herald-Outcome", out.outcome);
  res.keep_alive(req.keep_alive());
  res.body() = out.answer;
  res.prepare_payload();
  return res;
}

// A receipt once its gateway is known, against `store` (the writer's thread, or the loop's).
Response apply_receipt(const Request& req, ApiContext& ctx, Store& store, const Gateway& gw,
                       const std::string& token, const ReceiptParse& parsed) {
  auto reject = [&](bhttp::status status, const std::string& why) {
    ++ctx.metrics.receipts_rejected;
    return json_reply(req, status, {{"error", why}});
  };
  auto row = store.delivery_by_token(token);
  // The token is the credential; the gateway in the path must also be the one that sent.
  if (!row || row->gateway != gw.name()) return reject(bhttp::status::not_found, "unknown delivery");
  if (!parsed.update) return reject(bhttp::status::bad_request, parsed.error);
  const ReceiptUpdate& u = *parsed.update;
  TransitionRequest t;
  t.to = u.state;
  t.cause = Cause::receipt;
  t.source = "receipt:" + gw.name();
  // What the provider wrote is kept and shown by the API: scrubbed of secrets first.
  t.detail = redact_secrets("status " + u.status + (u.detail.empty() ? "" : " (" + u.detail + ")"));
  if (!u.error_code.empty()) {
    t.error_code = u.error_code;
    t.error_text = redact_secrets(u.detail.empty() ? "provider status " + u.status : u.detail);
  } else if (progress_rank(u.state) > 0) {
    // It got through: an earlier failure (a segment, an attempt) no longer describes the
    // delivery; the event log keeps it.
    t.error_code = std::string();
  }
  if (!u.provider_ref.empty()) t.provider_ref = u.provider_ref;
  TransitionResult r = store.transition(row->id, t);
  if (r.applied) ++ctx.metrics.receipts_applied;
  else ++ctx.metrics.receipts_ignored;
  return json_reply(req, bhttp::status::ok,
                    {{"delivery", row->id}, {"applied", r.applied}, {"state", to_string(r.state)}});
}

/// What a receipt needs before the store: its gateway, token and parsed content, or the
/// answer when the path alone settles it.
struct ReceiptCall {
  std::optional<Response> answer;
  const Gateway* gateway = nullptr;
  std::string token;
  ReceiptParse parsed;
};

ReceiptCall prepare_receipt(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs,
                            const std::map<std::string, std::string>& query) {
  ReceiptCall call;
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::post) {
    call.answer = json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
    return call;
  }
  auto reject = [&](bhttp::status status, const char* why) {
    ++ctx.metrics.receipts_rejected;
    call.answer = json_reply(req, status, {{"error", why}});
    return std::move(call);
  };
  if (segs.size() < 4 || segs.size() > 5 || !ctx.gateways) return reject(bhttp::status::not_found, "no such hook");
  auto channel = parse_channel(segs[1]);
  auto it = ctx.gateways->find(segs[2]);
  if (!channel || it == ctx.gateways->end() || it->second->channel() != *channel)
    return reject(bhttp::status::not_found, "no such hook");
  call.gateway = it->second.get();
  if (segs[3] == "mo") {
    // A reply becomes an acknowledgement: with mo_token set, only a caller that knows it
    // (the gateway, through its configured URL) can post one.
    const Secret& secret = call.gateway->mo_token();
    const bool ok = secret.empty() ? segs.size() == 4
                                   : segs.size() == 5 && constant_time_equal(segs[4], secret.reveal());
    if (!ok) return reject(bhttp::status::not_found, "no such hook");
    return call;
  }
  if (segs.size() != 4) return reject(bhttp::status::not_found, "no such hook");
  call.token = segs[3];
  if (call.token.size() != 32) return reject(bhttp::status::not_found, "unknown delivery");
  InboundCallback cb;
  cb.method = std::string(req.method_string());
  cb.query = query;
  cb.body = req.body();
  if (auto ct = req.find(bhttp::field::content_type); ct != req.end()) cb.content_type = std::string(ct->value());
  call.parsed = call.gateway->parse_receipt(cb);
  return call;
}

}  // namespace

Response handle_hook(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs,
                     const std::map<std::string, std::string>& query) {
  // segs: "hooks", channel, gateway, token
  ReceiptCall call = prepare_receipt(req, ctx, segs, query);
  if (call.answer) return std::move(*call.answer);
  if (segs[3] == "mo") {
    if (call.gateway->mo_token().empty()) {
      static std::mutex mu;
      static std::set<std::string> warned;
      std::lock_guard lock(mu);
      if (warned.insert(call.gateway->name()).second)
        log::warning("gateway ", call.gateway->name(), " took a reply without mo_token: anyone who can reach "
                     "/hooks can post replies and acknowledge for a recipient; set gateways.",
                     call.gateway->name(), ".mo_token and put it in the reply URL");
    }
    return handle_mo(req, ctx, *call.gateway, query);
  }
  return apply_receipt(req, ctx, ctx.store, *call.gateway, call.token, call.parsed);
}

bool handle_hook_async(std::shared_ptr<const Request> req, ApiContext& ctx, const std::vector<std::string>& segs,
                       const std::map<std::string, std::string>& query, std::function<void(Response&&)> respond) {
  if (!ctx.writer || segs.size() < 4 || segs[3] == "mo") return false;
  ReceiptCall call = prepare_receipt(*req, ctx, segs, query);
  if (call.answer) {
    respond(std::move(*call.answer));
    return true;
  }
  // Looked up, applied and committed on the writer thread, with whatever else is being
  // committed then; the provider hears 200 only once the receipt is on disk. A store
  // shared by several instances: in a transaction of its own, since the delivery may be
  // another instance's, whose batch holds it (see StoreWriter::submit_alone).
  auto work = [req, &ctx, gw = call.gateway, token = std::move(call.token),
               parsed = std::move(call.parsed)](Store& s) { return apply_receipt(*req, ctx, s, *gw, token, parsed); };
  auto done = [req, respond = std::move(respond)](std::optional<Response>&& res, const std::string& error) {
    if (!error.empty()) {
      log::error("receipt not recorded: store: ", error);
      respond(json_reply(*req, bhttp::status::service_unavailable, {{"error", "store unavailable"}}));
      return;
    }
    respond(std::move(*res));
  };
  if (ctx.store.shared()) ctx.writer->submit_alone(std::move(work), std::move(done));
  else ctx.writer->submit(std::move(work), std::move(done));
  return true;
}

}  // namespace herald::http
