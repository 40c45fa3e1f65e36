#include "render/sms_render.hpp"

#include "directive/ack_code.hpp"

#include "text/vietnamese.hpp"

namespace herald {

std::string fill_template(const std::string& format,
                          const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  for (size_t i = 0; i < format.size();) {
    if (format[i] == '{') {
      size_t close = format.find('}', i);
      if (close != std::string::npos) {
        std::string key = format.substr(i + 1, close - i - 1);
        bool found = false;
        for (const auto& [k, v] : values)
          if (k == key) {
            out += v;
            found = true;
            break;
          }
        if (found) {
          i = close + 1;
          // "{subject}." when the subject already ends with a period (or "..."): one is enough.
          if (i < format.size() && format[i] == '.' && !out.empty() && out.back() == '.') ++i;
          continue;
        }
      }
    }
    out += format[i++];
  }
  // Tidy what empty placeholders leave: doubled spaces, " ." and trailing blanks.
  std::string tidy;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c == ' ' && (tidy.empty() || tidy.back() == ' ' || tidy.back() == '\n')) continue;
    if ((c == '.' || c == ',') && !tidy.empty() && tidy.back() == ' ') tidy.pop_back();
    tidy += c;
  }
  while (!tidy.empty() && (tidy.back() == ' ' || tidy.back() == '\n')) tidy.pop_back();
  return tidy;
}

namespace {

// Cuts text to at most `max_chars` code points at a word boundary, adding "...".
std::string shorten(const std::string& s, size_t max_chars) {
  std::vector<size_t> starts;  // byte offset of each code point
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() <= max_chars) return s;
  if (max_chars <= 3) return "...";
  size_t cut = starts[max_chars - 3];
  size_t space = s.rfind(' ', cut);
  if (space != std::string::npos && space > cut / 2) cut = space;
  std::string out = s.substr(0, cut);
  while (!out.empty() && (out.back() == ' ' || out.back() == ',')) out.pop_back();
  return out + "...";
}

}  // namespace

RenderedSms render_sms(const Directive& d, const SmsTemplate& t, const std::string& link) {
  // Every SMS of a directive needing acknowledgement says how to give it; the footer
  // counts against the segment budget like the rest.
  const std::string footer = d.ack_required && !d.ack_code.empty() ? " " + ack_footer(d.ack_code, t.unaccented) : "";
  auto finish = [&](std::string text, std::string variant) {
    text += footer;
    if (t.unaccented) text = unaccent(text);
    return RenderedSms{text, measure_sms(text), std::move(variant)};
  };
  auto values = [&](const std::string& subject, const std::string& text) {
    return std::vector<std::pair<std::string, std::string>>{
        {"number", d.number}, {"issuer", d.issuer_name}, {"subject", subject},
        {"text", text},       {"link", link}};
  };
  if (d.confidential())
    return finish(fill_template(t.confidential_format, values("", "")), "notice");

  // Body, then summary, then no text, then an ever shorter subject.
  const std::pair<const std::string*, const char*> texts[] = {
      {&d.body, "body"}, {&d.summary, "summary"}, {nullptr, "subject"}};
  for (const auto& [text, variant] : texts) {
    if (text && text->empty()) continue;
    RenderedSms r = finish(fill_template(t.format, values(d.subject, text ? *text : "")), variant);
    if (r.size.segments <= t.max_segments) return r;
  }
  RenderedSms best;
  size_t chars = 0;
  for (size_t i = 0; i < d.subject.size(); ++i)
    if ((static_cast<unsigned char>(d.subject[i]) & 0xC0) != 0x80) ++chars;
  while (chars > 3) {
    chars = chars * 3 / 4;
    best = finish(fill_template(t.format, values(shorten(d.subject, chars), "")), "short_subject");
    if (best.size.segments <= t.max_segments) return best;
  }
  return best;
}

}  // namespace herald
