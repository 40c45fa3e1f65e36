#include "http/api.hpp"

#include <boost/json.hpp>
#include <boost/url.hpp>

#include "core/log.hpp"
#include "planner/planner.hpp"
#include "text/vietnamese.hpp"
#include "core/time.hpp"

namespace json = boost::json;

namespace herald::http {

Response make_reply(const Request& req, bhttp::status status, std::string body, std::string_view content_type) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "heraldd");
  res.set(bhttp::field::content_type, content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

bool LoginThrottle::blocked(const std::string& peer, int64_t now) {
  std::lock_guard lock(mu_);
  auto it = by_peer_.find(peer);
  return it != by_peer_.end() && it->second.blocked_until > now;
}

int LoginThrottle::failed(const std::string& peer, int64_t now) {
  std::lock_guard lock(mu_);
  if (by_peer_.size() > 10'000)  // a botnet's worth of addresses: forget the quiet ones
    for (auto it = by_peer_.begin(); it != by_peer_.end();)
      it = it->second.window_start + kWindowMs < now && it->second.blocked_until <= now ? by_peer_.erase(it)
                                                                                          : std::next(it);
  Entry& e = by_peer_[peer];
  if (e.window_start + kWindowMs < now) e = {now, 0, e.blocked_until};
  if (++e.failures >= kMaxFailures) e.blocked_until = now + kWindowMs;
  return e.failures;
}

namespace {

std::string peer_of(const Request& req) {
  auto it = req.find(kPeerHeader);
  return it == req.end() ? std::string("local") : std::string(it->value());
}

Response error(const Request& req, bhttp::status status, std::string_view message) {
  return make_reply(req, status, json::serialize(json::object{{"error", message}}));
}

// Which admin token, if any, the request carries; nullptr for none or a wrong one.
const AdminToken* authenticate(const Request& req, const HttpConfig& cfg) {
  auto it = req.find(bhttp::field::authorization);
  if (it == req.end()) return nullptr;
  std::string_view v = it->value();
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || v.substr(0, kBearer.size()) != kBearer) return nullptr;
  v.remove_prefix(kBearer.size());
  const AdminToken* match = nullptr;
  for (const auto& t : cfg.admin_tokens)  // no early exit: the time taken tells nothing
    if (constant_time_equal(v, t.token.reveal())) match = &t;
  return match;
}

json::object summary_json(const DirectiveSummary& s) {
  return {{"id", s.id},
          {"number", s.number},
          {"issuer", {{"code", s.issuer_code}, {"name", s.issuer_name}}},
          {"subject", s.subject},
          {"urgency", s.urgency},
          {"confidentiality", s.confidentiality},
          {"issued_at", s.issued_at},
          {"received_at", format_rfc3339_utc(s.received_at_ms)},
          {"deliveries", s.deliveries},
          {"intake_complete", s.intake_complete},
          {"ack_code", s.ack_code.empty() ? json::value(nullptr) : json::value(s.ack_code)},
          {"cancelled", s.cancelled_at_ms ? json::value(json::object{{"at", format_rfc3339_utc(*s.cancelled_at_ms)},
                                                                      {"by", s.cancelled_by},
                                                                      {"reason", s.cancel_reason}})
                                          : json::value(nullptr)}};
}

json::object detail_json(const DirectiveDetail& d) {
  json::object o = summary_json(d.summary);
  json::object by_channel, by_state;
  for (const auto& c : d.counts) {
    std::string ch(to_string(c.channel)), st(to_string(c.state));
    auto& per = by_channel[ch];
    if (!per.is_object()) per = json::object{};
    per.as_object()[st] = c.count;
    auto& total = by_state[st];
    total = (total.is_int64() ? total.as_int64() : 0) + c.count;
  }
  o["counts"] = std::move(by_channel);
  o["states"] = std::move(by_state);
  return o;
}

json::object delivery_json(const DeliveryRow& r) {
  return {{"id", r.id},
          {"recipient", {{"kind", r.recipient_kind}, {"id", r.recipient_id}, {"name", r.recipient_name}}},
          {"channel", to_string(r.channel)},
          {"address", r.address},
          {"state", to_string(r.state)},
          {"attempts", r.attempts},
          {"error", r.error_code.empty() ? json::value(nullptr)
                                         : json::value(json::object{{"code", r.error_code}, {"text", r.error_text}})},
          {"updated_at", format_rfc3339_utc(r.updated_at_ms)}};
}

Response forbidden_for_viewer(const Request& req, const AdminToken& who) {
  return error(req, bhttp::status::forbidden, "token \"" + who.name + "\" may only read (role viewer)");
}

Response store_unavailable(const Request& req) {
  return error(req, bhttp::status::service_unavailable, "store unavailable");
}

// POST /api/v1/directives/{id}/cancel {"reason": "..."}: operator role. Answered once the
// directive is marked cancelled and the first batch of its waiting deliveries is; the rest
// (a directive of more than Operations::kBatch) follow in batches, "pending" says so.
void cancel(std::shared_ptr<const Request> req, ApiContext& ctx, const AdminToken& who, const std::string& id,
            Respond respond) {
  if (who.role != Role::operator_) return respond(forbidden_for_viewer(*req, who));
  if (!ctx.operations) return respond(error(*req, bhttp::status::not_found, "no such resource"));
  std::string reason;
  if (!req->body().empty()) {
    json::error_code ec;
    json::value v = json::parse(req->body(), ec);
    const json::value* r = !ec && v.is_object() ? v.as_object().if_contains("reason") : nullptr;
    if (ec || !v.is_object() || (r && !r->is_string()))
      return respond(error(*req, bhttp::status::bad_request, "body must be a JSON object with an optional string \"reason\""));
    if (r) reason = utf8_prefix(r->get_string(), 500);
  }
  ctx.operations->cancel(id, who.name, reason,
                         [req, id, by = who.name, respond](std::optional<Operations::Cancelled>&& c, const std::string& err) {
    if (!err.empty()) return respond(store_unavailable(*req));
    if (!c->outcome.found) return respond(error(*req, bhttp::status::not_found, "no directive with id " + id));
    log::info("directive ", id, " cancelled by ", by, c->outcome.already ? " (already cancelled)" : "", ": ",
              c->first.cancelled, " deliveries held back", c->first.done ? "" : " so far, the rest in batches");
    respond(make_reply(*req, bhttp::status::ok,
                       json::serialize(json::object{{"id", id},
                                                    {"already_cancelled", c->outcome.already},
                                                    {"cancelled_deliveries", c->first.cancelled},
                                                    {"pending", !c->first.done},
                                                    {"in_flight", c->first.in_flight},
                                                    {"cancelled_at", format_rfc3339_utc(c->outcome.cancelled_at_ms)}})));
  });
}

json::value replay_item_json(const ReplayItem& it) {
  return {{"delivery", it.delivery_id},
          {"recipient", {{"id", it.recipient_id}, {"name", it.recipient_name}}},
          {"channel", to_string(it.channel)},
          {"was", to_string(it.state)},
          {"old_address", it.old_address},
          {"address", it.address},
          {"skipped", it.skipped.empty() ? json::value(nullptr) : json::value(it.skipped)}};
}

// POST /api/v1/directives/{id}/replay: failed and/or expired sends again, to the
// directory's current contacts. Body (all optional): {"states": ["failed", "expired"],
// "channel": "sms", "recipient": "id", "dry_run": false, "reason": "..."}. The answer lists
// the first batch (or, for a dry run, the first 1,000); a larger replay goes on in batches
// ("pending"), and a stop does not cut it short.
void replay(std::shared_ptr<const Request> req, ApiContext& ctx, const AdminToken& who, const std::string& id,
            Respond respond) {
  if (who.role != Role::operator_) return respond(forbidden_for_viewer(*req, who));
  if (!ctx.operations) return respond(error(*req, bhttp::status::not_found, "no such resource"));
  ReplayFilter filter;
  bool dry_run = false;
  std::string reason;
  if (!req->body().empty()) {
    json::error_code ec;
    json::value v = json::parse(req->body(), ec);
    if (ec || !v.is_object()) return respond(error(*req, bhttp::status::bad_request, "body must be a JSON object"));
    const json::object& o = v.as_object();
    for (const auto& [k, val] : o) {
      if (k == "states" && val.is_array()) {
        filter.states.clear();
        for (const auto& st : val.as_array()) {
          auto s = st.is_string() ? parse_state(std::string(st.get_string())) : std::nullopt;
          if (!s || (*s != DeliveryState::failed && *s != DeliveryState::expired))
            return respond(error(*req, bhttp::status::bad_request, "states: only failed and expired deliveries are replayed"));
          filter.states.push_back(*s);
        }
      } else if (k == "channel" && val.is_string()) {
        filter.channel = parse_channel(std::string(val.get_string()));
        if (!filter.channel) return respond(error(*req, bhttp::status::bad_request, "channel: unknown channel"));
      } else if (k == "recipient" && val.is_string()) {
        filter.recipient_id = std::string(val.get_string());
      } else if (k == "dry_run" && val.is_bool()) {
        dry_run = val.get_bool();
      } else if (k == "reason" && val.is_string()) {
        reason = utf8_prefix(val.get_string(), 500);
      } else {
        return respond(error(*req, bhttp::status::bad_request, "unexpected field \"" + std::string(k) + "\""));
      }
    }
  }
  if (dry_run) {
    auto summary = ctx.store.directive_summary(id);
    if (!summary) return respond(error(*req, bhttp::status::not_found, "no directive with id " + id));
    if (summary->cancelled_at_ms)
      return respond(error(*req, bhttp::status::conflict, "directive " + id + " is cancelled: nothing is replayed"));
    size_t total = 0;
    json::array list;
    size_t would = 0;
    for (const auto& it : ctx.store.replay_preview(id, filter, ctx.operations->address_of(), kPageMax, &total)) {
      would += it.skipped.empty();
      list.push_back(replay_item_json(it));
    }
    return respond(make_reply(*req, bhttp::status::ok,
                              json::serialize(json::object{{"id", id}, {"dry_run", true}, {"replayed", 0},
                                                           {"would_replay", would}, {"matching", total},
                                                           {"deliveries", std::move(list)}})));
  }
  ctx.operations->replay(id, filter, who.name, reason,
                         [req, id, by = who.name, reason, respond](std::optional<Operations::Replayed>&& r,
                                                                    const std::string& err) {
    if (!err.empty()) return respond(store_unavailable(*req));
    if (!r) return respond(error(*req, bhttp::status::not_found, "no directive with id " + id));
    if (r->cancelled)
      return respond(error(*req, bhttp::status::conflict, "directive " + id + " is cancelled: nothing is replayed"));
    json::array list;
    for (const auto& it : r->items)
      if (list.size() < kPageMax) list.push_back(replay_item_json(it));
    const int64_t sent = r->job->replayed;
    if (sent > 0)
      log::info("directive ", id, ": ", sent, " deliveries replayed by ", by, r->job->done ? "" : " so far",
                reason.empty() ? "" : ": ", reason);
    respond(make_reply(*req, bhttp::status::ok,
                       json::serialize(json::object{{"id", id}, {"dry_run", false}, {"replayed", sent},
                                                    {"would_replay", 0}, {"pending", !r->job->done},
                                                    {"deliveries", std::move(list)}})));
  });
}

// ?limit=N (at most kPageMax) and a cursor from the previous page's "next".
size_t page_limit(const boost::urls::params_view& params, size_t def) {
  auto it = params.find("limit");
  if (it == params.end() || !(*it).has_value) return def;
  const std::string v((*it).value);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return def;
  return std::clamp<size_t>(std::stoul(v), 1, kPageMax);
}

std::string param(const boost::urls::params_view& params, const char* key) {
  auto it = params.find(key);
  return it == params.end() || !(*it).has_value ? std::string() : std::string((*it).value);
}

std::optional<int64_t> id_param(const std::string& v) {
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(v);
}

// A directive's deliveries, events or acknowledgements, a page at a time with server-side
// filters; "next" is the cursor for the page after this one (null: the last page).
Response listing(const Request& req, ApiContext& ctx, const DirectiveSummary& d, const std::string& sub,
                 const boost::urls::params_view& params) {
  const std::string& id = d.id;
  const size_t limit = page_limit(params, kPageMax);
  const std::string after = param(params, "after");
  if (!after.empty() && sub != "acks" && !id_param(after))
    return error(req, bhttp::status::bad_request, "after: the \"next\" value of the previous page");
  json::array list;
  json::value next = nullptr;
  if (sub == "acks") {
    // Who acknowledged, when and how; who has not (?missing=1: only them).
    const std::string m = param(params, "missing");
    AckQuery q{after, limit, !m.empty() && m != "0" && m != "false"};
    const AckTotals totals = ctx.store.ack_totals(id);
    auto rows = ctx.store.ack_status(id, q);
    for (const auto& a : rows) {
      json::array sent;
      for (const auto& [ch, st] : a.deliveries) sent.push_back({{"channel", to_string(ch)}, {"state", to_string(st)}});
      json::object o{{"recipient", {{"id", a.recipient_id}, {"name", a.recipient_name}}},
                     {"acknowledged", a.acknowledged}, {"deliveries", std::move(sent)}};
      if (a.acknowledged)
        o["ack"] = {{"at", format_rfc3339_utc(a.at_ms)}, {"channel", to_string(a.channel)},
                    {"text", a.text}, {"source", a.source}};
      list.push_back(std::move(o));
    }
    if (rows.size() == limit) next = json::value(rows.back().recipient_id);
    return make_reply(req, bhttp::status::ok,
                      json::serialize(json::object{{"directive", id},
                                                   {"code", d.ack_code},
                                                   {"acknowledged", totals.acknowledged},
                                                   {"missing", totals.missing},
                                                   {"recipients", std::move(list)},
                                                   {"next", next}}));
  }
  if (sub == "deliveries") {
    DeliveryQuery q;
    q.after = id_param(after).value_or(0);
    q.limit = limit;
    if (auto st = param(params, "state"); !st.empty()) {
      q.state = parse_state(st);
      if (!q.state) return error(req, bhttp::status::bad_request, "state: unknown delivery state");
    }
    if (auto ch = param(params, "channel"); !ch.empty()) {
      q.channel = parse_channel(ch);
      if (!q.channel) return error(req, bhttp::status::bad_request, "channel: unknown channel");
    }
    q.recipient_id = param(params, "recipient");
    auto rows = ctx.store.deliveries(id, q);
    for (const auto& r : rows) list.push_back(delivery_json(r));
    if (rows.size() == limit) next = json::value(std::to_string(rows.back().id));
    return make_reply(req, bhttp::status::ok,
                      json::serialize(json::object{{"deliveries", std::move(list)}, {"next", next}}));
  }
  EventQuery q;
  q.after = id_param(after).value_or(0);
  q.limit = limit;
  if (auto dv = param(params, "delivery"); !dv.empty()) {
    q.delivery_id = id_param(dv);
    if (!q.delivery_id) return error(req, bhttp::status::bad_request, "delivery: a delivery id");
  }
  auto rows = ctx.store.events(id, q);
  for (const auto& e : rows)
    list.push_back({{"id", e.id},
                    {"delivery_id", e.delivery_id ? json::value(e.delivery_id) : json::value(nullptr)},
                    {"at", format_rfc3339_utc(e.at_ms)},
                    {"from", e.from_state},
                    {"to", e.to_state},
                    {"source", e.source},
                    {"detail", e.detail}});
  if (rows.size() == limit) next = json::value(std::to_string(rows.back().id));
  return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"events", std::move(list)}, {"next", next}}));
}

// GET /api/v1/directives: newest first, a page at a time (?limit, ?before from "next").
Response directive_list(const Request& req, ApiContext& ctx, const boost::urls::params_view& params) {
  const size_t limit = page_limit(params, 50);
  std::optional<OperatorStore::DirectiveCursor> before;
  if (const std::string b = param(params, "before"); !b.empty()) {
    const size_t colon = b.find(':');
    auto ms = colon == std::string::npos ? std::nullopt : id_param(b.substr(0, colon));
    if (!ms) return error(req, bhttp::status::bad_request, "before: the \"next\" value of the previous page");
    before.emplace(*ms, b.substr(colon + 1));
  }
  size_t offset = 0;
  if (auto o = id_param(param(params, "offset")); o && !before) offset = static_cast<size_t>(std::min<int64_t>(*o, 1 << 30));
  json::array list;
  auto rows = ctx.store.list_directives(limit, offset, before);
  for (const auto& s : rows) list.push_back(summary_json(s));
  json::value next = nullptr;
  if (rows.size() == limit) next = json::value(std::to_string(rows.back().received_at_ms) + ":" + rows.back().id);
  return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"directives", std::move(list)}, {"next", next}}));
}

// GET /api/v1/replies: newest first (?limit, ?before from "next").
Response reply_list(const Request& req, ApiContext& ctx, const boost::urls::params_view& params) {
  const size_t limit = page_limit(params, 200);
  const std::string b = param(params, "before");
  auto before = id_param(b);
  if (!b.empty() && !before) return error(req, bhttp::status::bad_request, "before: the \"next\" value of the previous page");
  json::array list;
  auto rows = ctx.store.replies(limit, before.value_or(0));
  for (const auto& r : rows)
    list.push_back({{"id", r.id},
                    {"at", format_rfc3339_utc(r.at_ms)},
                    {"channel", to_string(r.channel)},
                    {"sender", r.sender},
                    {"text", r.text},
                    {"outcome", r.outcome},
                    {"directive_id", r.directive_id.empty() ? json::value(nullptr) : json::value(r.directive_id)},
                    {"recipient_id", r.recipient_id.empty() ? json::value(nullptr) : json::value(r.recipient_id)},
                    {"detail", r.detail}});
  json::value next = nullptr;
  if (rows.size() == limit) next = json::value(std::to_string(rows.back().id));
  return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"replies", std::move(list)}, {"next", next}}));
}

// POST /api/v1/directives: the queue's own intake, on its thread: the directive is kept
// before its deliveries are planned in parts, and a stop half-way is finished at the next
// start (Intake::resume), so the answer comes once every delivery is committed.
void publish(std::shared_ptr<const Request> req, ApiContext& ctx, const AdminToken& who, Respond respond) {
  if (who.role != Role::operator_) return respond(forbidden_for_viewer(*req, who));
  if (!ctx.publish) return respond(error(*req, bhttp::status::not_found, "no such resource"));
  ctx.publish(req->body(), [req, &ctx, by = who.name, respond](IntakeResult r) {
    switch (r.kind) {
      case IntakeResult::Kind::committed:
        log::info("directive ", r.id, " published through the API by ", by);
        try {
          ctx.store.record_event(r.id, "published", "operator:" + by, "through the admin API", now_ms());
        } catch (const StoreError& e) {
          log::warning("directive ", r.id, ": the audit trail misses who published it: ", e.what());
        }
        return respond(make_reply(*req, bhttp::status::created,
                                  json::serialize(json::object{{"id", r.id}, {"created", true}, {"deliveries", r.deliveries}})));
      case IntakeResult::Kind::duplicate:
        return respond(make_reply(*req, bhttp::status::ok, json::serialize(json::object{{"id", r.id}, {"created", false}})));
      case IntakeResult::Kind::rejected: return respond(error(*req, bhttp::status::bad_request, r.reason));
      case IntakeResult::Kind::retry: return respond(store_unavailable(*req));
    }
  });
}

}  // namespace

void handle_api(std::shared_ptr<const Request> req_ptr, ApiContext& ctx, const std::vector<std::string>& segs,
                const boost::urls::params_view& params, Respond respond) {
  const Request& req = *req_ptr;
  const std::string peer = peer_of(req);
  const int64_t now = now_ms();
  if (ctx.logins && ctx.logins->blocked(peer, now)) {
    Response res = error(req, bhttp::status::too_many_requests, "too many failed logins from this address; wait a minute");
    res.set(bhttp::field::retry_after, std::to_string(LoginThrottle::kWindowMs / 1000));
    return respond(std::move(res));
  }
  const AdminToken* who = authenticate(req, ctx.config);
  if (!who) {
    if (ctx.logins && req.find(bhttp::field::authorization) != req.end()) {
      const int n = ctx.logins->failed(peer, now);
      if (n == 1 || n % LoginThrottle::kMaxFailures == 0)
        log::warning("admin login refused from ", peer, " (", n, " in the last minute",
                     n >= LoginThrottle::kMaxFailures ? "; shut out for a minute)" : ")");
    }
    Response res = error(req, bhttp::status::unauthorized, "missing or invalid bearer token");
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"herald\"");
    return respond(std::move(res));
  }
  if (req.method() == bhttp::verb::post && segs.size() >= 5 && segs[2] == "directives" &&
      (segs.back() == "cancel" || segs.back() == "replay")) {
    std::string id = segs[3];
    for (size_t i = 4; i + 1 < segs.size(); ++i) id += "/" + segs[i];
    return segs.back() == "cancel" ? cancel(req_ptr, ctx, *who, id, std::move(respond))
                                   : replay(req_ptr, ctx, *who, id, std::move(respond));
  }
  if (req.method() == bhttp::verb::post && segs.size() == 3 && segs[2] == "directives")
    return publish(req_ptr, ctx, *who, std::move(respond));
  if (req.method() == bhttp::verb::post && segs.size() == 4 && segs[2] == "directory" && segs[3] == "reload") {
    if (who->role != Role::operator_) return respond(forbidden_for_viewer(req, *who));
    if (!ctx.reload_directory) return respond(error(req, bhttp::status::not_found, "no such resource"));
    auto errors = ctx.reload_directory();
    if (!errors.empty()) {
      json::array list;
      for (const auto& e : errors) list.push_back(json::value(e));
      return respond(make_reply(req, bhttp::status::unprocessable_entity,
                                json::serialize(json::object{{"error", "the directory was refused; the previous one stays in use"},
                                                             {"errors", std::move(list)}})));
    }
    auto dir = ctx.directory();
    log::info("directory reloaded by ", who->name);
    return respond(make_reply(req, bhttp::status::ok,
                              json::serialize(json::object{{"reloaded", true},
                                                           {"groups", dir->groups().size()},
                                                           {"people", dir->people().size()},
                                                           {"zones", dir->zones().size()}})));
  }
  if (req.method() != bhttp::verb::get) return respond(error(req, bhttp::status::method_not_allowed, "method not allowed"));
  // segs: "api", "v1", "directives", ...
  if (segs.size() == 3 && segs[2] == "replies") return respond(reply_list(req, ctx, params));
  if (segs.size() < 3 || segs[2] != "directives") return respond(error(req, bhttp::status::not_found, "no such resource"));
  if (segs.size() == 3) return respond(directive_list(req, ctx, params));
  // The id may contain '/' ("hu-chauthanh/158-CV/HU/2021"): clients should send it as one
  // percent-encoded segment, but the unencoded form is accepted for the plain GET.
  std::string id = segs[3];
  std::string sub;
  std::optional<DirectiveSummary> summary;
  if (segs.size() == 5 && (segs[4] == "deliveries" || segs[4] == "events" || segs[4] == "acks") &&
      (summary = ctx.store.directive_summary(id))) {
    sub = segs[4];
  } else {
    for (size_t i = 4; i < segs.size(); ++i) id += "/" + segs[i];
  }
  if (sub.empty()) {
    auto d = ctx.store.directive(id);
    if (!d) return respond(error(req, bhttp::status::not_found, "no directive with id " + id));
    return respond(make_reply(req, bhttp::status::ok, json::serialize(detail_json(*d))));
  }
  respond(listing(req, ctx, *summary, sub, params));
}

Response json_reply(const Request& req, bhttp::status status, const json::object& body) {
  return make_reply(req, status, json::serialize(body));
}

}  // namespace herald::http
