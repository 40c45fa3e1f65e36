#include "render/announcement.hpp"

#include "text/speech.hpp"

namespace herald {

namespace {

// "2021-07-12T08:00:00+07:00" -> "12/7/2021": the date as the issuer wrote it (its own
// offset), in the form Vietnamese documents and the speech normaliser use.
std::string issued_date(const std::string& issued_at) {
  if (issued_at.size() < 10) return {};
  try {
    int y = std::stoi(issued_at.substr(0, 4)), m = std::stoi(issued_at.substr(5, 2)),
        d = std::stoi(issued_at.substr(8, 2));
    return std::to_string(d) + "/" + std::to_string(m) + "/" + std::to_string(y);
  } catch (const std::exception&) {
    return {};
  }
}

std::string ends_sentence(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  if (!s.empty() && s.back() != '.' && s.back() != '!' && s.back() != '?') s += '.';
  return s;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

std::optional<AnnouncementText> announcement_text(const Directive& d, const LoudspeakerSettings& s) {
  AnnouncementText out;
  if (d.confidential()) {
    if (s.confidential == LoudspeakerSettings::Confidential::skip) return std::nullopt;
    out.title = "Thông báo của " + d.issuer_name;
    out.spoken = ends_sentence(replace_all(s.confidential_notice, "{issuer}", d.issuer_name));
  } else {
    out.title = d.number + ": " + d.subject;
    // The loudspeaker text when the issuer wrote one, else the summary, else the body.
    const std::string& text = d.loudspeaker && !d.loudspeaker->text.empty() ? d.loudspeaker->text
                              : !d.summary.empty()                          ? d.summary
                                                                            : d.body;
    std::string opening = "Thông báo của " + d.issuer_name + ". Văn bản số " + d.number;
    if (std::string date = issued_date(d.issued_at); !date.empty()) opening += " ngày " + date;
    out.spoken = ends_sentence(opening + ", " + d.subject) + " " + ends_sentence(text);
  }
  out.script = normalize_for_speech(out.spoken);
  return out;
}

}  // namespace herald
