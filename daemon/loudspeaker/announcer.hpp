#pragma once
// Turns a directive into what each loudspeaker zone plays: the announcement text (once,
// with the confidentiality rule), and the spoken audio in the zone's regional voice,
// rendered on the audio worker and cached by content (zones sharing a voice share the
// file). Used by the dispatcher before a controller job and by the CAP feed.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "directive/directive.hpp"
#include "feeds/cap.hpp"
#include "adapters/gateway.hpp"
#include "loudspeaker/audio.hpp"

namespace herald::loudspeaker {

/// The audio settings of `s`; the AudioCache must be built with these.
AudioOptions audio_options(const LoudspeakerSettings& s);

class Announcer {
 public:
  /// `public_url`: the base the audio URLs are built on (dispatch.public_url).
  Announcer(AudioCache& cache, const LoudspeakerSettings& settings, std::string public_url);

  /// The zone's voice: its directory entry's, else the configured default.
  Voice voice_for(const Zone* zone) const;

  /// Text and audio for one zone; `done` gets nullopt when the directive must not be read
  /// aloud at all (confidential with `confidential: skip`). When the audio cannot be
  /// rendered the announcement goes without it (controllers read the text) and `error`
  /// says why.
  void prepare(const Directive& d, const Zone* zone,
               std::function<void(std::optional<Announcement>, std::string error)> done);

  /// The audio resources already rendered for `zones` (one per distinct voice), for the
  /// CAP feed; voices not rendered yet are started and left out until they are ready.
  std::vector<feeds::CapResource> resources(const Directive& d, const std::vector<const Zone*>& zones);

  /// URL of a rendered file.
  std::string audio_url(const AudioFile& f) const;

  AudioCache& cache() { return cache_; }

 private:
  AudioCache& cache_;
  const LoudspeakerSettings& settings_;
  std::string public_url_;
};

}  // namespace herald::loudspeaker
