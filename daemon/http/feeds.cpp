// The public feeds: the CAP 1.2 alerts of directives meant for the public, their Atom
// index, and the spoken audio those alerts and the controller jobs point to. No token:
// what is here is what the loudspeakers broadcast anyway. Nothing of a confidential
// directive appears: not its number, id, notice or cancel reason (the zones may still
// hear its notice; the Internet does not read it).
//
// Anyone may poll these, as often as they like, so each costs little: the Atom index is
// rendered once per change of the store (a one-row stamp says whether anything changed)
// and answered from memory otherwise; every document carries an ETag and Last-Modified,
// and a conditional request that still matches gets 304 without a body; audio is sent
// from its file a slice at a time (Range honoured), never read whole into memory, and
// one client address has at most http.downloads_per_address downloads under way.
#include <sys/stat.h>

#include <ctime>
#include <mutex>

#include <openssl/evp.h>

#include "core/log.hpp"
#include "core/time.hpp"
#include "feeds/cap.hpp"
#include "http/api.hpp"
#include "loudspeaker/announcer.hpp"
#include "net/url.hpp"
#include "render/announcement.hpp"

namespace herald::http {

std::shared_ptr<void> DownloadSlots::take(const std::string& peer) {
  std::lock_guard lock(mu_);
  int& n = open_[peer];
  if (n >= per_address_) return nullptr;
  ++n;
  // Not null (a null token would read as "no slot"); nothing to free, only a count to drop.
  return std::shared_ptr<void>(static_cast<void*>(this), [self = shared_from_this(), peer](void*) {
    std::lock_guard lock(self->mu_);
    if (auto it = self->open_.find(peer); it != self->open_.end() && --it->second <= 0) self->open_.erase(it);
  });
}

struct FeedCache {
  std::mutex mu;
  std::string stamp;  // what the store and the directory were when `atom` was rendered
  std::string atom;
  std::string etag;
  int64_t modified_ms = 0;
};

std::shared_ptr<FeedCache> make_feed_cache() { return std::make_shared<FeedCache>(); }

namespace {

// A strong validator: the SHA-256 of the body, its first 128 bits.
std::string etag_of(std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(body.data(), body.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned i = 0; i < 16 && i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out + "\"";
}

// RFC 9110 IMF-fixdate, the form of Last-Modified and If-Modified-Since.
std::string http_date(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<int64_t> parse_http_date(std::string_view v) {
  std::tm tm{};
  const std::string s(v.substr(0, 64));
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

// True when the client's copy (If-None-Match, else If-Modified-Since) is still current.
bool still_current(const Request& req, const std::string& etag, int64_t modified_ms) {
  if (auto inm = req.find(bhttp::field::if_none_match); inm != req.end()) {
    std::string_view v = inm->value();
    if (v == "*") return true;
    // A list of tags, weak ones compared weakly (RFC 9110 13.1.2): the tag's hex inside it.
    return v.find(std::string_view(etag).substr(1, etag.size() - 2)) != std::string_view::npos;
  }
  if (auto ims = req.find(bhttp::field::if_modified_since); ims != req.end() && modified_ms > 0)
    if (auto since = parse_http_date(ims->value())) return modified_ms / 1000 * 1000 <= *since;
  return false;
}

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

// The document, or 304 when the client's copy is current; validators either way.
Response validated(const Request& req, std::string body, std::string_view type, const std::string& etag,
                   int64_t modified_ms) {
  const bool current = still_current(req, etag, modified_ms);
  Response res = reply(req, current ? bhttp::status::not_modified : bhttp::status::ok, current ? "" : std::move(body),
                       type);
  res.set(bhttp::field::etag, etag);
  if (modified_ms > 0) res.set(bhttp::field::last_modified, http_date(modified_ms));
  return res;
}

Response atom(const Request& req, ApiContext& ctx) {
  const CapFeedConfig& cfg = ctx.app_config->cap;
  const int64_t now = now_ms();
  const int64_t since = now - cfg.window_ms;
  auto dir = ctx.directory ? ctx.directory() : nullptr;
  // What the index is made of: the public directives in the window (how many, the last
  // received and cancelled) and the directory (zone names). One indexed row to read.
  const PublicStamp st = ctx.store.public_stamp(since);
  const std::string stamp = std::to_string(st.count) + "/" + std::to_string(st.last_received_ms) + "/" +
                            std::to_string(st.last_cancelled_ms) + "/" +
                            std::to_string(reinterpret_cast<uintptr_t>(dir.get()));
  FeedCache& cache = *ctx.feed_cache;
  {
    std::lock_guard lock(cache.mu);
    if (cache.stamp == stamp)
      return validated(req, cache.atom, "application/atom+xml; charset=utf-8", cache.etag, cache.modified_ms);
  }
  std::vector<feeds::AtomEntry> entries;
  for (const auto& s : ctx.store.public_directives(since, 500)) {
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
  const int64_t modified = std::max(st.last_received_ms, st.last_cancelled_ms);
  std::string body = feeds::render_atom(entries, ctx.app_config->dispatch.public_url + "/feeds/cap.atom", cfg,
                                       modified > 0 ? modified : now);
  std::string etag = etag_of(body);
  {
    std::lock_guard lock(cache.mu);
    cache.stamp = stamp;
    cache.atom = body;
    cache.etag = etag;
    cache.modified_ms = modified;
  }
  return validated(req, std::move(body), "application/atom+xml; charset=utf-8", etag, modified);
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
  std::string body = cancel ? feeds::render_cancel(l->alert, cfg) : feeds::render_alert(l->alert, cfg);
  std::string etag = etag_of(body);
  return validated(req, std::move(body), "application/cap+xml; charset=utf-8", etag,
                   cancel ? *l->alert.cancelled_at_ms : summary->received_at_ms);
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

Reply audio(const Request& req, ApiContext& ctx, const std::string& name) {
  if (!ctx.announcer || !ends_with(name, ".mp3")) return not_found(req, "no such audio");
  const std::string key = name.substr(0, name.size() - 4);
  if (key.size() != 32 || key.find_first_not_of("0123456789abcdef") != std::string::npos)
    return not_found(req, "no such audio");
  auto f = ctx.announcer->cache().find(key);
  if (!f) return not_found(req, "no such audio");
  struct stat st{};
  if (::stat(f->path.c_str(), &st) != 0) return not_found(req, "no such audio");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const std::string etag = "\"" + f->sha256_hex + "\"";
  // Named by its content; a day's caching is safe (the ETag covers a re-rendered file).
  constexpr std::string_view kImmutable = "public, max-age=86400";
  if (auto inm = req.find(bhttp::field::if_none_match); inm != req.end() && inm->value() == etag) {
    Response res = reply(req, bhttp::status::not_modified, "", loudspeaker::AudioFile::mime, kImmutable);
    res.set(bhttp::field::etag, etag);
    return res;
  }
  uint64_t offset = 0, length = size;
  bhttp::status status = bhttp::status::ok;
  std::string content_range;
  if (auto range = req.find(bhttp::field::range); range != req.end()) {
    auto r = parse_range(range->value(), size);
    if (!r) {
      Response res = reply(req, bhttp::status::range_not_satisfiable, "", loudspeaker::AudioFile::mime, kImmutable);
      res.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
      return res;
    }
    offset = r->first;
    length = r->second - r->first + 1;
    status = bhttp::status::partial_content;
    content_range = "bytes " + std::to_string(r->first) + "-" + std::to_string(r->second) + "/" + std::to_string(size);
  }
  // A slot of this client's downloads, held until the answer is written or dropped.
  auto it = req.find(kPeerHeader);
  auto slot = ctx.downloads->take(it == req.end() ? std::string("local") : std::string(it->value()));
  if (!slot) {
    Response res = json_reply(req, bhttp::status::too_many_requests,
                              {{"error", "too many downloads from this address at once"}});
    res.set(bhttp::field::retry_after, "5");
    return res;
  }
  FileResponse out;
  out.head = Response{status, req.version()};
  out.head.set(bhttp::field::server, "heraldd");
  out.head.set(bhttp::field::content_type, loudspeaker::AudioFile::mime);
  out.head.set(bhttp::field::cache_control, kImmutable);
  out.head.set(bhttp::field::etag, etag);
  out.head.set(bhttp::field::accept_ranges, "bytes");
  if (!content_range.empty()) out.head.set(bhttp::field::content_range, content_range);
  out.head.keep_alive(req.keep_alive());
  out.path = f->path;
  out.offset = offset;
  out.length = length;
  out.hold = std::move(slot);
  return out;
}

}  // namespace

Reply handle_feeds(const Request& req, ApiContext& ctx, const std::vector<std::string>& segs) {
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
