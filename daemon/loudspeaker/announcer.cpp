#include "loudspeaker/announcer.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "render/announcement.hpp"

namespace herald::loudspeaker {

namespace {

std::string_view voice_label(Voice v) {
  switch (v) {
    case Voice::northern: return "giọng miền Bắc";
    case Voice::central: return "giọng miền Trung";
    case Voice::southern: return "giọng miền Nam";
  }
  return "";
}

}  // namespace

AudioOptions audio_options(const LoudspeakerSettings& s) {
  AudioOptions o;
  o.bitrate_kbps = s.bitrate_kbps;
  o.words_per_minute = s.words_per_minute;
  return o;
}

Announcer::Announcer(AudioCache& cache, const LoudspeakerSettings& settings, std::string public_url)
    : cache_(cache), settings_(settings), public_url_(std::move(public_url)) {}

Voice Announcer::voice_for(const Zone* zone) const {
  if (zone)
    if (auto v = parse_voice(zone->voice)) return *v;
  return parse_voice(settings_.default_voice).value_or(Voice::northern);
}

std::string Announcer::audio_url(const AudioFile& f) const {
  return public_url_ + "/feeds/audio/" + f.key + ".mp3";
}

void Announcer::prepare(const Directive& d, const Zone* zone,
                        std::function<void(std::optional<Announcement>, std::string)> done) {
  auto text = announcement_text(d, settings_);
  if (!text) return done(std::nullopt, "confidential directives are not read aloud (confidential: skip)");
  Announcement a;
  a.title = text->title;
  a.script = text->script;
  const Voice voice = voice_for(zone);
  a.voice = std::string(voice_name(voice));
  cache_.ensure(a.script, voice, [this, a, done = std::move(done)](std::optional<AudioFile> f, std::string error) mutable {
    if (f) {
      a.audio_url = audio_url(*f);
      a.audio_mime = std::string(AudioFile::mime);
      a.audio_bytes = f->bytes;
      a.audio_duration_ms = f->duration_ms;
      a.audio_sha256 = f->sha256_hex;
    }
    done(std::move(a), f ? std::string() : error);
  });
}

std::vector<feeds::CapResource> Announcer::resources(const Directive& d, const std::vector<const Zone*>& zones) {
  std::vector<feeds::CapResource> out;
  auto text = announcement_text(d, settings_);
  if (!text) return out;
  std::vector<Voice> voices;
  for (const Zone* z : zones) {
    Voice v = voice_for(z);
    if (std::find(voices.begin(), voices.end(), v) == voices.end()) voices.push_back(v);
  }
  for (Voice v : voices) {
    auto f = cache_.find(AudioCache::key_for(text->script, v, audio_options(settings_)));
    if (!f) {
      // Rendered in the background; the next poll of the feed lists it.
      cache_.ensure(text->script, v, [](std::optional<AudioFile>, std::string error) {
        if (!error.empty()) log::warning("loudspeaker audio: ", error);
      });
      continue;
    }
    out.push_back({"Bản đọc thông báo (" + std::string(voice_label(v)) + ")", std::string(AudioFile::mime),
                   f->bytes, audio_url(*f), f->sha1_hex});
  }
  return out;
}

}  // namespace herald::loudspeaker
