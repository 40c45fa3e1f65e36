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

// POST /api/v1/directives/{id}/cancel {"reason": "..."}: operator role.
Response forbidden_for_viewer(const Request& req, const AdminToken& who);

Response cancel(const Request& req, ApiContext& ctx, const AdminToken& who, const std::string& id) {
  if (who.role != Role::operator_) return forbidden_for_viewer(req, who);
  std::string reason;
  if (!req.body().empty()) {
    json::error_code ec;
    json::value v = json::parse(req.body(), ec);
    const json::value* r = !ec && v.is_object() ? v.as_object().if_contains("reason") : nullptr;
    if (ec || !v.is_object() || (r && !r->is_string()))
      return error(req, bhttp::status::bad_request, "body must be a JSON object with an optional string \"reason\"");
    if (r) reason = utf8_prefix(r->get_string(), 500);
  }
  CancelOutcome out = ctx.store.cancel_directive(id, who.name, reason, now_ms());
  if (!out.found) return error(req, bhttp::status::not_found, "no directive with id " + id);
  log::info("directive ", id, " cancelled by ", who.name, out.already ? " (already cancelled)" : "", ": ",
            out.cancelled, " deliveries held back, ", out.in_flight, " already on their way");
  return make_reply(req, bhttp::status::ok,
              json::serialize(json::object{{"id", id},
                                           {"already_cancelled", out.already},
                                           {"cancelled_deliveries", out.cancelled},
                                           {"in_flight", out.in_flight},
                                           {"cancelled_at", format_rfc3339_utc(out.cancelled_at_ms)}}));
}

Response forbidden_for_viewer(const Request& req, const AdminToken& who) {
  return error(req, bhttp::status::forbidden, "token \"" + who.name + "\" may only read (role viewer)");
}

// POST /api/v1/directives/{id}/replay: failed and/or expired sends again, to the
// directory's current contacts. Body (all optional): {"states": ["failed", "expired"],
// "channel": "sms", "recipient": "id", "dry_run": false, "reason": "..."}.
Response replay(const Request& req, ApiContext& ctx, const AdminToken& who, const std::string& id) {
  if (who.role != Role::operator_) return forbidden_for_viewer(req, who);
  if (!ctx.store.directive(id)) return error(req, bhttp::status::not_found, "no directive with id " + id);
  ReplayFilter filter;
  bool dry_run = false;
  std::string reason;
  if (!req.body().empty()) {
    json::error_code ec;
    json::value v = json::parse(req.body(), ec);
    if (ec || !v.is_object()) return error(req, bhttp::status::bad_request, "body must be a JSON object");
    const json::object& o = v.as_object();
    for (const auto& [k, val] : o) {
      if (k == "states" && val.is_array()) {
        filter.states.clear();
        for (const auto& st : val.as_array()) {
          auto s = st.is_string() ? parse_state(std::string(st.get_string())) : std::nullopt;
          if (!s || (*s != DeliveryState::failed && *s != DeliveryState::expired))
            return error(req, bhttp::status::bad_request, "states: only failed and expired deliveries are replayed");
          filter.states.push_back(*s);
        }
      } else if (k == "channel" && val.is_string()) {
        filter.channel = parse_channel(std::string(val.get_string()));
        if (!filter.channel) return error(req, bhttp::status::bad_request, "channel: unknown channel");
      } else if (k == "recipient" && val.is_string()) {
        filter.recipient_id = std::string(val.get_string());
      } else if (k == "dry_run" && val.is_bool()) {
        dry_run = val.get_bool();
      } else if (k == "reason" && val.is_string()) {
        reason = utf8_prefix(val.get_string(), 500);
      } else {
        return error(req, bhttp::status::bad_request, "unexpected field \"" + std::string(k) + "\"");
      }
    }
  }
  auto dir = ctx.directory ? ctx.directory() : nullptr;
  auto address_of = [&](const std::string& recipient, Channel c) -> std::string {
    if (c == Channel::loudspeaker) return dir && dir->zone(recipient) ? recipient : std::string();
    const Person* p = dir ? dir->person(recipient) : nullptr;
    return p ? address_for(*p, c) : std::string();
  };
  bool cancelled = false;
  auto items = ctx.store.replay(id, filter, address_of, dry_run, who.name, reason, now_ms(), &cancelled);
  if (cancelled) return error(req, bhttp::status::conflict, "directive " + id + " is cancelled: nothing is replayed");
  json::array list;
  size_t sent = 0;
  for (const auto& it : items) {
    if (it.skipped.empty()) ++sent;
    list.push_back({{"delivery", it.delivery_id},
                    {"recipient", {{"id", it.recipient_id}, {"name", it.recipient_name}}},
                    {"channel", to_string(it.channel)},
                    {"was", to_string(it.state)},
                    {"old_address", it.old_address},
                    {"address", it.address},
                    {"skipped", it.skipped.empty() ? json::value(nullptr) : json::value(it.skipped)}});
  }
  if (!dry_run && sent > 0) {
    log::info("directive ", id, ": ", sent, " deliveries replayed by ", who.name, reason.empty() ? "" : ": ", reason);
    if (ctx.on_queued) ctx.on_queued();
  }
  return make_reply(req, bhttp::status::ok,
              json::serialize(json::object{{"id", id}, {"dry_run", dry_run}, {"replayed", dry_run ? 0 : sent},
                                           {"would_replay", dry_run ? sent : 0}, {"deliveries", std::move(list)}}));
}

}  // namespace

Response handle_api(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs,
                    const boost::urls::params_view& params) {
  const std::string peer = peer_of(req);
  const int64_t now = now_ms();
  if (ctx.logins && ctx.logins->blocked(peer, now)) {
    Response res = error(req, bhttp::status::too_many_requests, "too many failed logins from this address; wait a minute");
    res.set(bhttp::field::retry_after, std::to_string(LoginThrottle::kWindowMs / 1000));
    return res;
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
    return res;
  }
  if (req.method() == bhttp::verb::post && segs.size() >= 5 && segs[2] == "directives" &&
      (segs.back() == "cancel" || segs.back() == "replay")) {
    std::string id = segs[3];
    for (size_t i = 4; i + 1 < segs.size(); ++i) id += "/" + segs[i];
    return segs.back() == "cancel" ? cancel(req, ctx, *who, id) : replay(req, ctx, *who, id);
  }
  if (req.method() == bhttp::verb::post && segs.size() == 3 && segs[2] == "directives") {
    // The same intake as the broker's consumer: validated, planned, committed once by id.
    if (who->role != Role::operator_) return forbidden_for_viewer(req, *who);
    if (!ctx.publish) return error(req, bhttp::status::not_found, "no such resource");
    IntakeResult r = ctx.publish(req.body());
    switch (r.kind) {
      case IntakeResult::Kind::committed:
        log::info("directive ", r.id, " published through the API by ", who->name);
        ctx.store.record_event(r.id, "published", "operator:" + who->name, "through the admin API", now_ms());
        return make_reply(req, bhttp::status::created,
                    json::serialize(json::object{{"id", r.id}, {"created", true}, {"deliveries", r.deliveries}}));
      case IntakeResult::Kind::duplicate:
        return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"id", r.id}, {"created", false}}));
      case IntakeResult::Kind::rejected: return error(req, bhttp::status::bad_request, r.reason);
      case IntakeResult::Kind::retry: return error(req, bhttp::status::service_unavailable, "store unavailable");
    }
  }
  if (req.method() == bhttp::verb::post && segs.size() == 4 && segs[2] == "directory" && segs[3] == "reload") {
    if (who->role != Role::operator_) return forbidden_for_viewer(req, *who);
    if (!ctx.reload_directory) return error(req, bhttp::status::not_found, "no such resource");
    auto errors = ctx.reload_directory();
    if (!errors.empty()) {
      json::array list;
      for (const auto& e : errors) list.push_back(json::value(e));
      return make_reply(req, bhttp::status::unprocessable_entity,
                  json::serialize(json::object{{"error", "the directory was refused; the previous one stays in use"},
                                               {"errors", std::move(list)}}));
    }
    auto dir = ctx.directory();
    log::info("directory reloaded by ", who->name);
    return make_reply(req, bhttp::status::ok,
                json::serialize(json::object{{"reloaded", true},
                                             {"groups", dir->groups().size()},
                                             {"people", dir->people().size()},
                                             {"zones", dir->zones().size()}}));
  }
  if (req.method() != bhttp::verb::get) return error(req, bhttp::status::method_not_allowed, "method not allowed");
  // segs: "api", "v1", "directives", ...
  if (segs.size() == 3 && segs[2] == "replies") {
    json::array list;
    for (const auto& r : ctx.store.replies(200))
      list.push_back({{"id", r.id},
                      {"at", format_rfc3339_utc(r.at_ms)},
                      {"channel", to_string(r.channel)},
                      {"sender", r.sender},
                      {"text", r.text},
                      {"outcome", r.outcome},
                      {"directive_id", r.directive_id.empty() ? json::value(nullptr) : json::value(r.directive_id)},
                      {"recipient_id", r.recipient_id.empty() ? json::value(nullptr) : json::value(r.recipient_id)},
                      {"detail", r.detail}});
    return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"replies", std::move(list)}}));
  }
  if (segs.size() < 3 || segs[2] != "directives") return error(req, bhttp::status::not_found, "no such resource");
  if (segs.size() == 3) {
    auto number = [&](const char* key, size_t def, size_t max) {
      auto it = params.find(key);
      if (it == params.end() || !(*it).has_value) return def;
      try {
        return std::min<size_t>(std::stoul(std::string((*it).value)), max);
      } catch (...) {
        return def;
      }
    };
    json::array list;
    for (const auto& s : ctx.store.list_directives(number("limit", 50, 1000), number("offset", 0, 1u << 30)))
      list.push_back(summary_json(s));
    return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"directives", std::move(list)}}));
  }
  // The id may contain '/' ("hu-chauthanh/158-CV/HU/2021"): clients should send it as one
  // percent-encoded segment, but the unencoded form is accepted for the plain GET.
  std::string id = segs[3];
  std::string sub;
  if (segs.size() == 5 && (segs[4] == "deliveries" || segs[4] == "events" || segs[4] == "acks") &&
      ctx.store.directive(id)) {
    sub = segs[4];
  } else {
    for (size_t i = 4; i < segs.size(); ++i) id += "/" + segs[i];
  }
  if (sub.empty()) {
    auto d = ctx.store.directive(id);
    if (!d) return error(req, bhttp::status::not_found, "no directive with id " + id);
    return make_reply(req, bhttp::status::ok, json::serialize(detail_json(*d)));
  }
  json::array list;
  if (sub == "acks") {
    // Who acknowledged, when and how; who has not (?missing=1: only them).
    auto it = params.find("missing");
    const bool missing_only = it != params.end() && (*it).value != "0" && (*it).value != "false";
    auto d = ctx.store.directive(id);
    int64_t acked = 0, missing = 0;
    for (const auto& a : ctx.store.ack_status(id)) {
      (a.acknowledged ? acked : missing) += 1;
      if (missing_only && a.acknowledged) continue;
      json::array sent;
      for (const auto& [ch, st] : a.deliveries) sent.push_back({{"channel", to_string(ch)}, {"state", to_string(st)}});
      json::object o{{"recipient", {{"id", a.recipient_id}, {"name", a.recipient_name}}},
                     {"acknowledged", a.acknowledged}, {"deliveries", std::move(sent)}};
      if (a.acknowledged)
        o["ack"] = {{"at", format_rfc3339_utc(a.at_ms)}, {"channel", to_string(a.channel)},
                    {"text", a.text}, {"source", a.source}};
      list.push_back(std::move(o));
    }
    return make_reply(req, bhttp::status::ok,
                json::serialize(json::object{{"directive", id},
                                             {"code", d->summary.ack_code},
                                             {"acknowledged", acked},
                                             {"missing", missing},
                                             {"recipients", std::move(list)}}));
  }
  if (sub == "deliveries") {
    for (const auto& r : ctx.store.deliveries(id)) list.push_back(delivery_json(r));
    return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"deliveries", std::move(list)}}));
  }
  for (const auto& e : ctx.store.events(id))
    list.push_back({{"id", e.id},
                    {"delivery_id", e.delivery_id ? json::value(e.delivery_id) : json::value(nullptr)},
                    {"at", format_rfc3339_utc(e.at_ms)},
                    {"from", e.from_state},
                    {"to", e.to_state},
                    {"source", e.source},
                    {"detail", e.detail}});
  return make_reply(req, bhttp::status::ok, json::serialize(json::object{{"events", std::move(list)}}));
}

Response json_reply(const Request& req, bhttp::status status, const json::object& body) {
  return make_reply(req, status, json::serialize(body));
}

}  // namespace herald::http
