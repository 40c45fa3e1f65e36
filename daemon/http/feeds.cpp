// The public feeds: the CAP 1.2 alerts of directives meant for the public, their Atom
// index, and the spoken audio those alerts and the controller jobs point to. No token:
// what is here is what the loudspeakers broadcast anyway. Nothing of a confidential
// directive appears: not its number, id, notice or cancel reason (the zones may still
// hear its notice; the Internet does not read it).
#include <fstream>
#include <sstream>

#include "core/log.hpp"
#include "core/time.hpp"
#include "feeds/cap.hpp"
#include "http/api.hpp"
#include "loudspeaker/announcer.hpp"
#include "net/url.hpp"
#include "render/announcement.hpp"

namespace herald::http {

namespace {

Response reply(const Request& req, bhttp::status status, std::string body, std::string_view type,
               std::string_view cache = "no-cache") {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "heraldd");
  res.set(bhttp::field::content_type, type);
  res.set(bhttp::field::cache_control, cache);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response not_found(const Request& req, std::string_view what) {
  return json_reply(req, bhttp::status::not_found, {{"error", what}});
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct Loaded {
  Directive directive;
  feeds::CapAlert alert;
};

// The directive as the feed shows it; nullopt when it is not for the public.
std::optional<Loaded> load(ApiContext& ctx, const DirectiveSummary& s) {
  if (s.zones.empty()) return std::nullopt;
  auto raw = ctx.store.directive_raw(s.id);
  if (!raw) return std::nullopt;
  DirectiveParse p = parse_directive(*raw, raw->size() + 1);
  if (!p.directive || p.directive->confidentiality != Confidentiality::normal) return std::nullopt;
  auto text = announcement_text(*p.directive, ctx.app_config->loudspeaker());
  if (!text) return std::nullopt;  // confidential, withheld from the zones
  Loaded out{std::move(*p.directive), {}};
  feeds::CapAlert& a = out.alert;
  a.received_at_ms = s.received_at_ms;
  a.cancelled_at_ms = s.cancelled_at_ms;
  a.cancel_reason = s.cancel_reason;
  a.headline = text->title;
  a.description = text->spoken;
  auto dir = ctx.directory ? ctx.directory() : nullptr;
  std::vector<const Zone*> zones;
  for (const auto& id : s.zones) {
    const Zone* z = dir ? dir->zone(id) : nullptr;
    zones.push_back(z);
    a.areas.push_back({z ? z->name : id, z ? z->geocode : std::string()});
  }
  return out;
}

std::string document_url(ApiContext& ctx, const std::string& id, bool cancel) {
  return ctx.app_config->dispatch.public_url + "/feeds/cap/" + net::percent_encode(id) + (cancel ? ".cancel.xml" : ".xml");
}

Response atom(const Request& req, ApiContext& ctx) {
  const CapFeedConfig& cfg = ctx.app_config->cap;
  const int64_t now = now_ms();
  std::vector<feeds::AtomEntry> entries;
  for (const auto& s : ctx.store.public_directives(now - cfg.window_ms, 500)) {
    auto l = load(ctx, s);
    if (!l) continue;
    l->alert.directive = &l->directive;
    const bool cancelled = s.cancelled_at_ms.has_value();
    feeds::AtomEntry e;
    e.id = feeds::cap_identifier(l->directive) + (cancelled ? ":cancel" : "");
    e.title = cancelled ? "Hủy thông báo: " + l->alert.headline : l->alert.headline;
    e.summary = cancelled ? s.cancel_reason : l->alert.description;
    e.updated = cancelled ? format_rfc3339_offset(*s.cancelled_at_ms, cfg.utc_offset_minutes)
                          : feeds::cap_sent(l->alert, cfg);
    e.href = document_url(ctx, s.id, cancelled);
    e.msg_type = cancelled ? "Cancel" : "Alert";
    entries.push_back(std::move(e));
  }
  return reply(req, bhttp::status::ok,
               feeds::render_atom(entries, ctx.app_config->dispatch.public_url + "/feeds/cap.atom", cfg, now),
               "application/atom+xml; charset=utf-8");
}

Response cap_document(const Request& req, ApiContext& ctx, std::string name) {
  const bool cancel = ends_with(name, ".cancel.xml");
  if (!cancel && !ends_with(name, ".xml")) return not_found(req, "no such feed document");
  const std::string id = name.substr(0, name.size() - (cancel ? 11 : 4));
  // One answer for an id that does not exist, is not public or is confidential.
  // The summary alone (one row): an anonymous request never makes heraldd count a
  // directive's deliveries.
  auto summary = ctx.store.directive_summary(id);
  if (!summary) return not_found(req, "no such alert");
  auto l = load(ctx, *summary);
  if (!l) return not_found(req, "no such alert");
  l->alert.directive = &l->directive;
  if (cancel && !l->alert.cancelled_at_ms) return not_found(req, "no such alert");
  if (ctx.announcer && !cancel) {
    std::vector<const Zone*> zones;
    auto dir = ctx.directory ? ctx.directory() : nullptr;
    for (const auto& z : summary->zones) zones.push_back(dir ? dir->zone(z) : nullptr);
    l->alert.resources = ctx.announcer->resources(l->directive, zones);
  }
  const CapFeedConfig& cfg = ctx.app_config->cap;
  return reply(req, bhttp::status::ok,
               cancel ? feeds::render_cancel(l->alert, cfg) : feeds::render_alert(l->alert, cfg),
               "application/cap+xml; charset=utf-8");
}

// "bytes=a-b", "bytes=a-", "bytes=-n" against a file of `size` bytes.
std::optional<std::pair<size_t, size_t>> parse_range(std::string_view v, size_t size) {
  if (v.substr(0, 6) != "bytes=" || size == 0) return std::nullopt;
  v.remove_prefix(6);
  size_t dash = v.find('-');
  if (dash == std::string_view::npos || v.find(',') != std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<size_t> {
    if (s.empty() || s.size() > 18) return std::nullopt;
    size_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    return n;
  };
  auto first = number(v.substr(0, dash));
  auto last = number(v.substr(dash + 1));
  if (!first) {
    if (!last || *last == 0) return std::nullopt;
    return std::pair{size - std::min(*last, size), size - 1};
  }
  if (*first >= size || (last && *last < *first)) return std::nullopt;
  return std::pair{*first, last ? std::min(*last, size - 1) : size - 1};
}

Response audio(const Request& req, ApiContext& ctx, const std::string& name) {
  if (!ctx.announcer || !ends_with(name, ".mp3")) return not_found(req, "no such audio");
  const std::string key = name.substr(0, name.size() - 4);
  if (key.size() != 32 || key.find_first_not_of("0123456789abcdef") != std::string::npos)
    return not_found(req, "no such audio");
  auto f = ctx.announcer->cache().find(key);
  if (!f) return not_found(req, "no such audio");
  std::ifstream in(f->path, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  if (!in) return json_reply(req, bhttp::status::internal_server_error, {{"error", "audio unreadable"}});
  std::string bytes = std::move(body).str();
  const std::string etag = "\"" + f->sha256_hex + "\"";
  // Named by its content; a day's caching is safe (the ETag covers a re-rendered file).
  constexpr std::string_view kImmutable = "public, max-age=86400";
  if (auto inm = req.find(bhttp::field::if_none_match); inm != req.end() && inm->value() == etag) {
    Response res = reply(req, bhttp::status::not_modified, "", loudspeaker::AudioFile::mime, kImmutable);
    res.set(bhttp::field::etag, etag);
    return res;
  }
  Response res{bhttp::status::ok, req.version()};
  if (auto range = req.find(bhttp::field::range); range != req.end()) {
    auto r = parse_range(range->value(), bytes.size());
    if (!r) {
      res = reply(req, bhttp::status::range_not_satisfiable, "", loudspeaker::AudioFile::mime, kImmutable);
      res.set(bhttp::field::content_range, "bytes */" + std::to_string(bytes.size()));
      return res;
    }
    res = reply(req, bhttp::status::partial_content, bytes.substr(r->first, r->second - r->first + 1),
                loudspeaker::AudioFile::mime, kImmutable);
    res.set(bhttp::field::content_range, "bytes " + std::to_string(r->first) + "-" + std::to_string(r->second) +
                                             "/" + std::to_string(bytes.size()));
  } else {
    res = reply(req, bhttp::status::ok, std::move(bytes), loudspeaker::AudioFile::mime, kImmutable);
  }
  res.set(bhttp::field::etag, etag);
  res.set(bhttp::field::accept_ranges, "bytes");
  return res;
}

}  // namespace

Response handle_feeds(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs) {
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head)
    return json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
  if (!ctx.app_config || segs.size() < 2) return not_found(req, "no such feed");
  if (segs[1] == "audio" && segs.size() == 3) return audio(req, ctx, segs[2]);
  if (!ctx.app_config->cap.enabled) return not_found(req, "the CAP feed is off (feeds.cap.enabled)");
  if (segs[1] == "cap.atom" && segs.size() == 2) return atom(req, ctx);
  if (segs[1] == "cap" && segs.size() >= 3) {
    // The id is one percent-encoded segment; an unencoded one arrives split at its '/'.
    std::string name = segs[2];
    for (size_t i = 3; i < segs.size(); ++i) name += "/" + segs[i];
    return cap_document(req, ctx, name);
  }
  return not_found(req, "no such feed");
}

}  // namespace herald::http
