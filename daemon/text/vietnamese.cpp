#include "text/vietnamese.hpp"

#include <array>
#include <unordered_map>

namespace herald {

char32_t next_code_point(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i++]);
  if (c < 0x80) return c;
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (extra < 0 || c >= 0xF8) return 0xFFFD;
  char32_t cp = c & (0x3F >> extra);
  for (int k = 0; k < extra; ++k) {
    if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  }
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// Every accented Vietnamese letter, grouped by the ASCII letter it folds to.
const std::unordered_map<char32_t, char>& fold_table() {
  static const auto table = [] {
    struct Row { char base; std::string_view letters; };
    static constexpr std::array<Row, 14> rows{{
        {'a', "àáảãạăằắẳẵặâầấẩẫậ"}, {'A', "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ"},
        {'e', "èéẻẽẹêềếểễệ"},       {'E', "ÈÉẺẼẸÊỀẾỂỄỆ"},
        {'i', "ìíỉĩị"},             {'I', "ÌÍỈĨỊ"},
        {'o', "òóỏõọôồốổỗộơờớởỡợ"}, {'O', "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ"},
        {'u', "ùúủũụưừứửữự"},       {'U', "ÙÚỦŨỤƯỪỨỬỮỰ"},
        {'y', "ỳýỷỹỵ"},             {'Y', "ỲÝỶỸỴ"},
        {'d', "đ"},                 {'D', "Đ"},
    }};
    std::unordered_map<char32_t, char> t;
    for (const auto& row : rows)
      for (size_t i = 0; i < row.letters.size();) t[next_code_point(row.letters, i)] = row.base;
    return t;
  }();
  return table;
}

bool combining_mark(char32_t cp) {
  // Grave, acute, tilde, hook above, dot below, breve, circumflex, horn: the marks a
  // decomposed (NFD) Vietnamese text carries.
  return (cp >= 0x0300 && cp <= 0x036F) || cp == 0x1DC4 || cp == 0x1DC5;
}

}  // namespace

std::string unaccent(std::string_view s) {
  const auto& table = fold_table();
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      out += s[i++];
      continue;
    }
    char32_t cp = next_code_point(s, i);
    if (combining_mark(cp)) continue;
    if (auto it = table.find(cp); it != table.end()) out += it->second;
    else append_utf8(out, cp);
  }
  return out;
}

std::string match_key(std::string_view s) {
  std::string folded = unaccent(s);
  std::string out;
  out.reserve(folded.size());
  bool space = false;
  for (char ch : folded) {
    auto c = static_cast<unsigned char>(ch);
    bool word = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c >= 0x80;
    if (!word) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}

bool valid_utf8(std::string_view s) { return invalid_utf8_at(s) == std::string_view::npos; }

size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (extra == 0 || i + extra >= s.size()) return i;
    char32_t cp = c & (0x3F >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += extra + 1;
  }
  return std::string_view::npos;
}

std::string utf8_clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  while (!v.empty()) {
    size_t bad = invalid_utf8_at(v);
    if (bad == std::string_view::npos) bad = v.size();
    for (char c : v.substr(0, bad))
      if (c != '\0') out += c;
    if (bad == v.size()) break;
    out += "\xEF\xBF\xBD";  // U+FFFD
    v.remove_prefix(bad + 1);
  }
  return out;
}

std::string utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // a continuation byte
  return std::string(s.substr(0, cut));
}

}  // namespace herald
