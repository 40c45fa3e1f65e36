#include "text/whitespace.hpp"

namespace herald {

namespace {

bool ascii_space(unsigned char c, LineBreaks breaks) {
  if (c == ' ' || c == '\t' || c == '\v' || c == '\f') return true;
  return breaks == LineBreaks::are_space && (c == '\n' || c == '\r');
}

}  // namespace

size_t space_width(std::string_view s, size_t i, LineBreaks breaks) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (ascii_space(c, breaks)) return 1;
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) return 2;  // NBSP
  return 0;
}

std::string_view trim(std::string_view s, LineBreaks breaks) {
  while (!s.empty()) {
    const size_t w = space_width(s, 0, breaks);
    if (w == 0) break;
    s.remove_prefix(w);
  }
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s.back());
    if (ascii_space(c, breaks)) {
      s.remove_suffix(1);
    } else if (s.size() >= 2 && c == 0xA0 && static_cast<unsigned char>(s[s.size() - 2]) == 0xC2) {
      s.remove_suffix(2);
    } else {
      break;
    }
  }
  return s;
}

bool blank(std::string_view s, LineBreaks breaks) {
  for (size_t i = 0; i < s.size();) {
    const size_t w = space_width(s, i, breaks);
    if (w == 0) return false;
    i += w;
  }
  return true;
}

std::string collapse(std::string_view s, LineBreaks breaks) {
  std::string out;
  out.reserve(s.size());
  bool pending = false;
  for (size_t i = 0; i < s.size();) {
    if (const size_t w = space_width(s, i, breaks)) {
      pending = !out.empty();
      i += w;
      continue;
    }
    if (pending) out += ' ';
    pending = false;
    out += s[i++];
  }
  return out;
}

}  // namespace herald
