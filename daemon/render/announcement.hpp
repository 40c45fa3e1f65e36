#pragma once
// What a loudspeaker zone reads aloud for a directive: a short spoken opening (who issued
// it, its number and date, what it is about) and the text meant for the public, then
// normalised for speech. A confidential directive becomes the configured notice only.
#include <string>

#include "config/config.hpp"
#include "directive/directive.hpp"

namespace herald {

struct AnnouncementText {
  std::string title;   // for the controller's operator and the CAP headline
  std::string spoken;  // before normalisation: what the CAP description carries
  std::string script;  // normalised for the speech synthesiser
};

/// nullopt when the directive must not reach the loudspeakers at all (confidential with
/// `confidential: skip`).
std::optional<AnnouncementText> announcement_text(const Directive& d, const LoudspeakerSettings& s);

}  // namespace herald
