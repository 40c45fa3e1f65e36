#include "adapters/loudspeaker/controller/controller.hpp"

#include <algorithm>

#include "settings/yaml_reader.hpp"
#include "core/time.hpp"

namespace herald {

namespace {

// Herald's own job shape (docs/loudspeaker.md); a controller that wants another gets a
// `body:` template in config.
constexpr const char* kDefaultBody = R"({
  "job_id": "{{token}}",
  "zones": ["{{zone}}"],
  "zone_name": "{{zone_name}}",
  "priority": "{{priority}}",
  "title": "{{title}}",
  "text": "{{text}}",
  "audio": {"url": "{{audio_url}}", "mime_type": "{{audio_mime}}", "bytes": {{audio_bytes}},
            "sha256": "{{audio_sha256}}", "duration_s": {{audio_duration_s}}, "voice": "{{voice}}"},
  "repeat": {{repeat}},
  "schedule": {"mode": "{{schedule}}", "start": "{{start_at}}"},
  "callback_url": "{{receipt_url}}",
  "directive": {"id": "{{directive_id}}", "number": "{{number}}", "urgency": "{{urgency}}"}
})";

constexpr std::array<const char*, 4> kUrgencyKeys{"normal", "khan", "thuong_khan", "hoa_toc"};

std::optional<int> parse_slot(const std::string& s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (size_t i : {0, 1, 3, 4})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::string seconds_text(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

std::optional<SendError> LoudspeakerControllerGateway::refuse(const OutboundMessage& m) const {
  if (!m.directive) return SendError{SendErrorKind::bad_request, "no_directive", "nothing to send"};
  if (!m.announcement || m.announcement->script.empty())
    return SendError{SendErrorKind::bad_request, "no_announcement", "nothing to read aloud"};
  return api.refuse(values(m, 0));  // headers: no control characters, whatever the job's time
}

int64_t LoudspeakerControllerGateway::start_at_ms(Urgency urgency, int64_t now) const {
  if (immediate[static_cast<size_t>(rank(urgency))] || slots.empty()) return now;
  constexpr int64_t kDay = 86'400'000;
  const int64_t offset = int64_t{utc_offset_minutes} * 60'000;
  const int64_t local = now + offset;
  const int64_t midnight = local - ((local % kDay) + kDay) % kDay;
  for (int day = 0; day < 2; ++day)
    for (int slot : slots) {
      const int64_t at = midnight + day * kDay + int64_t{slot} * 60'000;
      if (at >= local) return at - offset;
    }
  return now;  // unreachable: tomorrow's first slot is always ahead
}

TemplateValues LoudspeakerControllerGateway::values(const OutboundMessage& m, int64_t now) const {
  const Announcement a = m.announcement.value_or(Announcement{});
  const Directive* d = m.directive;
  const Urgency urgency = d ? d->urgency : Urgency::normal;
  const int times = d && d->loudspeaker ? d->loudspeaker->repeat : repeat;
  const int64_t start = start_at_ms(urgency, now);
  auto code = zone_codes.find(m.address);
  return [this, a, d, urgency, times, start, zone = code == zone_codes.end() ? m.address : code->second,
          zone_id = m.address, zone_name = m.recipient_name,
          immediate_now = start == now](const std::string& key) -> std::optional<std::string> {
    const size_t u = static_cast<size_t>(rank(urgency));
    if (key == "text") return a.script;
    if (key == "zone") return zone;
    if (key == "zone_id") return zone_id;
    if (key == "zone_name") return zone_name;
    if (key == "priority") return priorities[u];
    if (key == "title") return a.title;
    if (key == "audio_url") return a.audio_url;
    if (key == "audio_mime") return a.audio_mime;
    if (key == "audio_bytes") return std::to_string(a.audio_bytes);
    if (key == "audio_sha256") return a.audio_sha256;
    if (key == "audio_duration_s") return seconds_text(a.audio_duration_ms);
    if (key == "voice") return a.voice;
    if (key == "repeat") return std::to_string(times);
    if (key == "start_at") return format_rfc3339_offset(start, utc_offset_minutes);
    if (key == "schedule") return std::string(immediate_now ? "immediate" : "slot");
    if (key == "directive_id") return d ? d->id : std::string();
    if (key == "number") return d ? d->number : std::string();
    if (key == "urgency") return std::string(kUrgencyKeys[u]);
    return std::nullopt;
  };
}

net::HttpRequest LoudspeakerControllerGateway::build(const OutboundMessage& m) const {
  return api.request(message_values(m, values(m, now_ms())), limits_.timeout_ms);
}

std::unique_ptr<Gateway> LoudspeakerControllerGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<LoudspeakerControllerGateway>();
  Diagnostics& d = r.diag();
  // Herald's report shape unless config describes the controller's own.
  g->api.receipt = {"/status", "/job_id", "/reason",
                    {{"scheduled", DeliveryState::sent}, {"playing", DeliveryState::sent},
                     {"played", DeliveryState::delivered}, {"failed", DeliveryState::failed},
                     {"expired", DeliveryState::expired}},
                    std::nullopt};
  g->api.response.id_pointer = "/job_id";
  if (YAML::Node p = r.child("priorities"); p.IsDefined()) {
    MapReader pr(p, d, r.what() + ".priorities", r.mark("priorities"));
    if (pr.is_map()) {
      for (size_t i = 0; i < kUrgencyKeys.size(); ++i)
        if (auto v = pr.string(kUrgencyKeys[i])) g->priorities[i] = *v;
      pr.finish();
    }
  }
  if (auto list = r.string_list("immediate")) {
    g->immediate.fill(false);
    for (const auto& u : *list) {
      auto it = std::find(kUrgencyKeys.begin(), kUrgencyKeys.end(), u);
      if (it == kUrgencyKeys.end())
        d.error(r.mark("immediate"), r.what() + ".immediate: unknown urgency \"" + u +
                                         "\" (normal, khan, thuong_khan, hoa_toc)");
      else
        g->immediate[static_cast<size_t>(it - kUrgencyKeys.begin())] = true;
    }
  }
  if (auto list = r.string_list("slots")) {
    for (const auto& s : *list) {
      if (auto minutes = parse_slot(s)) g->slots.push_back(*minutes);
      else d.error(r.mark("slots"), r.what() + ".slots: \"" + s + "\" is not a time of day HH:MM");
    }
    std::sort(g->slots.begin(), g->slots.end());
  }
  if (auto v = r.string("utc_offset")) {
    if (auto off = parse_utc_offset(*v)) g->utc_offset_minutes = *off;
    else d.error(r.mark("utc_offset"), r.what() + ".utc_offset must look like +07:00");
  }
  if (auto v = r.integer("repeat", 1, 10)) g->repeat = static_cast<int>(*v);
  if (YAML::Node z = r.child("zones"); z.IsDefined()) {
    MapReader zr(z, d, r.what() + ".zones", r.mark("zones"));
    if (zr.is_map())
      for (const auto& kv : z)
        if (auto v = zr.string(kv.first.Scalar())) g->zone_codes[kv.first.Scalar()] = *v;
  }
  g->name_ = name;
  // The job's own values, on a message with an empty announcement, check the body.
  OutboundMessage probe;
  probe.address = "zone";
  probe.announcement = Announcement{};
  g->api.read(r, {{"token", "receipt_url", "delivery_id", "text", "zone", "zone_id", "zone_name", "priority", "title",
                   "audio_url", "audio_mime", "audio_bytes", "audio_sha256", "audio_duration_s", "voice", "repeat",
                   "start_at", "schedule", "directive_id", "number", "urgency"},
                  message_values(probe, g->values(probe, 0)),
                  kDefaultBody});
  read_common(r, *g);
  read_mo_token(r, *g);
  return g;
}

}  // namespace herald
