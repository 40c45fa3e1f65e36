#pragma once
// What a loudspeaker zone reads aloud for a directive: a short spoken opening (who issued
// it, its number and date, what it is about) and the text meant for the public, then
// normalised for speech. A confidential directive becomes the configured notice only.
#include <string>

#include "directive/directive.hpp"

namespace herald {

/// How directives are read aloud on the commune loudspeakers (docs/loudspeaker.md).
struct LoudspeakerSettings {
  enum class Confidential { notice, skip };
  /// A confidential directive reaches the zones as `confidential_notice` only, or not at all.
  Confidential confidential = Confidential::notice;
  std::string confidential_notice =
      "{issuer} có văn bản gửi các cơ quan, đơn vị trên địa bàn. Đề nghị cán bộ phụ trách "
      "liên hệ văn phòng để nhận văn bản.";
  std::string default_voice = "northern";  // for zones whose directory entry names none
  std::string audio_dir;                   // default: <store folder>/audio
  int words_per_minute = 150;              // loudspeakers in the open need slow speech
  int bitrate_kbps = 48;
};

struct AnnouncementText {
  std::string title;   // for the controller's operator and the CAP headline
  std::string spoken;  // before normalisation: what the CAP description carries
  std::string script;  // normalised for the speech synthesiser
};

/// nullopt when the directive must not reach the loudspeakers at all (confidential with
/// `confidential: skip`).
std::optional<AnnouncementText> announcement_text(const Directive& d, const LoudspeakerSettings& s);

}  // namespace herald
