// acks/reply: a recipient's reply read as an acknowledgement, its resolution against the
// sender's open directives, and the help text. The reply is folded
// (unaccent, ASCII lowercase) and cut into words at ASCII punctuation, Unicode spaces,
// punctuation and emoji; the rules in reply.hpp then run over the words with the tables
// below.
#include "acks/reply.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "directive/ack_code.hpp"
#include "text/vietnamese.hpp"

namespace herald::acks {

namespace {

using std::string_view;

// ---------------------------------------------------------------------------------------
// Tables (folded words)

/// Ack keywords, longest first so "da nhan" wins over "nhan".
constexpr std::array<std::array<string_view, 2>, 11> kKeywords{{
    {"xac", "nhan"},
    {"da", "nhan"},
    {"da", "doc"},
    {"nhan", ""},
    {"xn", ""},
    {"ok", ""},
    {"oke", ""},
    {"okay", ""},
    {"okey", ""},
    {"oki", ""},
    {"okie", ""},
}};

/// Negations: before the keyword or right after it, the reply is not an acknowledgement.
constexpr std::array<string_view, 12> kNegations{
    "khong", "ko", "k", "kg", "kh", "khg", "khum", "hong", "hok", "chua", "chx", "chang"};

/// Courtesy words that may come before the keyword ("dạ", "vâng", "em", "tôi", ...).
constexpr std::array<string_view, 16> kCourtesy{"da",  "vang", "em",  "toi", "anh",  "chi",
                                                "minh", "chung", "xin", "bao", "thua", "chu",
                                                "bac",  "ong",  "ba",  "a"};

/// Words between the keyword and the code, also allowed before the keyword: "đã nhận được
/// văn bản số 158", "ĐÃ NHẬN VB 158", "ok rồi ạ 158".
constexpr std::array<string_view, 14> kConnectors{"duoc", "dc",  "roi",  "r",  "a",  "nhe", "nha",
                                                  "vb",   "van", "ban",  "so", "cong", "cv", "ma"};

/// Only the first bytes of a reply are read.
constexpr size_t kMaxBytes = 500;
/// Words allowed before the keyword.
constexpr size_t kMaxLead = 4;

template <size_t N>
bool in(const std::array<string_view, N>& table, string_view w) {
  return std::find(table.begin(), table.end(), w) != table.end();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ---------------------------------------------------------------------------------------
// Words

bool is_question_mark(uint32_t cp) {
  return cp == '?' || cp == 0xFF1F || cp == 0x037E || cp == 0x061F || cp == 0x2047 ||
         cp == 0x2048 || cp == 0x2049 || cp == 0x2753 || cp == 0x2754;
}

/// Non-ASCII code points that separate words: spaces, punctuation, symbols, emoji.
bool is_separator(uint32_t cp) {
  return cp == 0x00A0 || cp == 0x00AD || (cp >= 0x2000 && cp <= 0x206F) ||
         (cp >= 0x2190 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
         (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
         (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
         (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0x1F000 && cp <= 0x1FAFF);
}

struct Words {
  std::vector<std::string> words;
  bool question = false;
};

/// The folded words of well-formed UTF-8. A word of letters glued to digits is split in
/// two ("ok158" -> "ok", "158").
Words split_words(string_view utf8) {
  std::string folded = unaccent(utf8);
  Words out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    size_t letters = 0;
    while (letters < word.size() && is_lower(word[letters])) ++letters;
    if (letters > 0 && letters < word.size() && is_digit(word[letters])) {
      out.words.push_back(word.substr(0, letters));
      out.words.push_back(word.substr(letters));
    } else {
      out.words.push_back(word);
    }
    word.clear();
  };
  for (size_t i = 0; i < folded.size();) {
    size_t start = i;
    uint32_t cp = next_code_point(folded, i);
    if (cp >= 0xFF10 && cp <= 0xFF19) cp = '0' + (cp - 0xFF10);  // fullwidth digits
    if (cp >= 0xFF21 && cp <= 0xFF3A) cp = 'a' + (cp - 0xFF21);  // fullwidth letters
    if (cp >= 0xFF41 && cp <= 0xFF5A) cp = 'a' + (cp - 0xFF41);
    if (cp < 0x80) {
      char c = lower(static_cast<char>(cp));
      if (is_digit(c) || is_lower(c)) {
        word += c;
        continue;
      }
      if (is_question_mark(cp)) out.question = true;
      flush();
    } else if (is_question_mark(cp)) {
      out.question = true;
      flush();
    } else if (is_separator(cp)) {
      flush();
    } else {
      word.append(folded, start, i - start);
    }
  }
  flush();
  return out;
}

/// The code a word names: digits (at most 6), digits and one letter (at most 6 in all), or
/// digits glued to a document-type tail ("158cv" -> "158"); normalised. Empty when the
/// word is not a code.
std::string code_of(string_view w) {
  size_t digits = 0;
  while (digits < w.size() && is_digit(w[digits])) ++digits;
  if (digits == 0 || digits > 6) return {};
  size_t letters = 0;
  while (digits + letters < w.size() && is_lower(w[digits + letters])) ++letters;
  if (digits + letters != w.size()) return {};  // digits after letters, other scripts
  if (letters == 1 && digits <= 5) return normalize_code(w);
  return normalize_code(w.substr(0, digits));
}

/// The number of words of the keyword starting at word `i`, or 0.
size_t keyword_at(const std::vector<std::string>& words, size_t i) {
  for (const auto& kw : kKeywords) {
    size_t n = kw[1].empty() ? 1 : 2;
    if (i + n > words.size()) continue;
    if (words[i] == kw[0] && (n == 1 || words[i + 1] == kw[1])) return n;
  }
  return 0;
}

}  // namespace

ParsedReply parse_reply(std::string_view utf8) {
  if (utf8.size() > kMaxBytes) {
    size_t cut = kMaxBytes;  // back off to the start of a character
    while (cut > 0 && (static_cast<unsigned char>(utf8[cut]) & 0xC0) == 0x80) --cut;
    utf8 = utf8.substr(0, cut);
  }
  ParsedReply unknown;
  if (!valid_utf8(utf8)) return unknown;
  Words w = split_words(utf8);
  if (w.question) return unknown;
  const auto& words = w.words;

  size_t at = 0, length = 0;
  for (; at < words.size() && at <= kMaxLead; ++at) {
    if ((length = keyword_at(words, at)) > 0) break;
    const auto& word = words[at];
    if (in(kNegations, word)) return unknown;
    if (in(kCourtesy, word) || in(kConnectors, word) || !code_of(word).empty()) continue;
    return unknown;
  }
  if (length == 0) return unknown;
  size_t after = at + length;
  if (after < words.size() && in(kNegations, words[after])) return unknown;

  ParsedReply r;
  r.kind = ParsedReply::Kind::ack;
  for (size_t i = after; i < words.size(); ++i) {
    if (in(kConnectors, words[i])) continue;
    r.code = code_of(words[i]);
    break;
  }
  for (size_t i = 0; r.code.empty() && i < at; ++i) r.code = code_of(words[i]);
  return r;
}

Resolution resolve(const ParsedReply& r, const std::vector<std::string>& open_codes) {
  using O = Resolution::Outcome;
  if (r.kind != ParsedReply::Kind::ack) return {O::not_an_ack, {}};
  if (open_codes.empty()) return {O::none_open, r.code};
  if (r.code.empty()) {
    if (open_codes.size() == 1) return {O::no_code_single, open_codes.front()};
    return {O::ambiguous, {}};
  }
  std::string want = normalize_code(r.code);
  for (const auto& open : open_codes)
    if (normalize_code(open) == want) return {O::matched, open};
  return {O::unknown_code, r.code};
}

std::string help_text(const std::vector<std::string>& open_codes, bool unaccented) {
  std::string text;
  if (open_codes.empty()) {
    text = "Herald: chưa rõ nội dung. Hiện không có văn bản nào chờ xác nhận.";
  } else {
    text = "Herald: chưa rõ nội dung. Để xác nhận, trả lời OK <số văn bản>, ví dụ: OK " +
           open_codes.front() + ". Văn bản chờ xác nhận: ";
    size_t shown = std::min<size_t>(open_codes.size(), 3);
    for (size_t i = 0; i < shown; ++i) {
      if (i > 0) text += ", ";
      text += open_codes[i];
    }
    if (open_codes.size() > shown)
      text += " và " + std::to_string(open_codes.size() - shown) + " văn bản khác";
    text += ".";
  }
  return unaccented ? unaccent(text) : text;
}

}  // namespace herald::acks
