#include "directive/document_text.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <utility>

#include "text/vietnamese.hpp"
#include "text/whitespace.hpp"

namespace herald {

// ---------------------------------------------------------------------------------------
// Code points and case
// ---------------------------------------------------------------------------------------

namespace {

bool is_combining(char32_t cp) { return cp >= 0x0300 && cp <= 0x036F; }

// Uppercase/lowercase pairs outside the two regular ranges handled in code:
// Latin-1 À..Þ / à..þ (offset 0x20) and Latin Extended Additional Ạ..Ỹ (even/odd).
constexpr std::array<std::pair<char32_t, char32_t>, 6> kPairs{{
    {0x0102, 0x0103},  // Ă ă
    {0x0110, 0x0111},  // Đ đ
    {0x0128, 0x0129},  // Ĩ ĩ
    {0x0168, 0x0169},  // Ũ ũ
    {0x01A0, 0x01A1},  // Ơ ơ
    {0x01AF, 0x01B0},  // Ư ư
}};

}  // namespace

char32_t vietnamese_to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 0x20;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  for (const auto& [up, low] : kPairs)
    if (c == up) return low;
  if (c >= 0x1EA0 && c <= 0x1EF9 && c % 2 == 0) return c + 1;
  return c;
}

char32_t vietnamese_to_upper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 0x20;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  for (const auto& [up, low] : kPairs)
    if (c == low) return up;
  if (c >= 0x1EA1 && c <= 0x1EF9 && c % 2 == 1) return c - 1;
  return c;
}

namespace {

bool is_lower_letter(char32_t c) { return vietnamese_to_upper(c) != c; }
bool is_upper_letter(char32_t c) { return vietnamese_to_lower(c) != c; }
bool is_letter(char32_t c) { return is_lower_letter(c) || is_upper_letter(c); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) append_utf8(out, vietnamese_to_lower(next_code_point(s, i)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) append_utf8(out, vietnamese_to_upper(next_code_point(s, i)));
  return out;
}

// First code point uppercased, the rest as is.
std::string capitalise(std::string_view w) {
  if (w.empty()) return {};
  size_t i = 0;
  char32_t cp = next_code_point(w, i);
  std::string out;
  append_utf8(out, vietnamese_to_upper(cp));
  out.append(w.substr(i));
  return out;
}

// ---------------------------------------------------------------------------------------
// Small string helpers
// ---------------------------------------------------------------------------------------

// A document is read line by line: its line breaks are not spaces within a line.
constexpr LineBreaks kLine = LineBreaks::are_not_space;

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    while (i < s.size() && (len = space_width(s, i, kLine)) != 0) i += len;
    size_t b = i;
    while (i < s.size() && space_width(s, i, kLine) == 0) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

// Folds one code point to a lowercase ASCII letter/char (diacritics removed), 0 if none.
char fold_ascii(char32_t cp) {
  if (cp < 0x80) {
    char c = static_cast<char>(cp);
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 0x20) : c;
  }
  std::string enc;
  append_utf8(enc, cp);
  std::string u = unaccent(enc);
  if (u.size() != 1 || static_cast<unsigned char>(u[0]) >= 0x80) return 0;
  char c = u[0];
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 0x20) : c;
}

// Matches the lowercase ASCII pattern `pat` at the start of `s`, ignoring case and
// diacritics (precomposed or combining); a space in `pat` matches any run of whitespace.
// Returns the byte offset just after the match.
std::optional<size_t> match_lead(std::string_view s, std::string_view pat) {
  size_t i = 0;
  for (size_t p = 0; p < pat.size(); ++p) {
    if (pat[p] == ' ') {
      size_t j = i, len = 0;
      while (j < s.size() && (len = space_width(s, j, kLine)) != 0) j += len;
      if (j == i) return std::nullopt;
      i = j;
      continue;
    }
    if (i >= s.size()) return std::nullopt;
    char32_t cp = next_code_point(s, i);
    if (fold_ascii(cp) != pat[p]) return std::nullopt;
    while (i < s.size()) {
      size_t k = i;
      if (!is_combining(next_code_point(s, k))) break;
      i = k;
    }
  }
  return i;
}

// True when no letter follows s[off] (so "Số" does not match "Sởi").
bool word_ends_at(std::string_view s, size_t off) {
  if (off >= s.size()) return true;
  size_t i = off;
  char32_t cp = next_code_point(s, i);
  return !is_letter(cp) && !is_combining(cp);
}

std::optional<size_t> match_word(std::string_view s, std::string_view pat) {
  auto off = match_lead(s, pat);
  if (!off || !word_ends_at(s, *off)) return std::nullopt;
  return off;
}

// Skips spaces and a colon after a lead word ("Kính gửi:  - ...").
std::string_view after_label(std::string_view s, size_t off) {
  std::string_view rest = trim(s.substr(off), kLine);
  while (!rest.empty() && (rest.front() == ':' || rest.front() == '.')) rest = trim(rest.substr(1), kLine);
  return rest;
}

bool has_alnum(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      char32_t cp = next_code_point(s, i);
      if (is_letter(cp)) return true;
      continue;
    }
    ++i;
    if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  }
  return false;
}

// Has a letter and no lowercase letter: "HUYỆN ỦY CHÂU THÀNH", "T/M BAN THƯỜNG VỤ".
bool is_upper_text(std::string_view s) {
  bool any = false;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    if (is_lower_letter(cp)) return false;
    if (is_upper_letter(cp)) any = true;
  }
  return any;
}

// "Phạm Anh Minh": 2-6 words, each an uppercase letter followed by lowercase letters.
bool is_name_like(std::string_view s) {
  if (s.size() > 80) return false;
  auto ws = words(s);
  if (ws.size() < 2 || ws.size() > 6) return false;
  for (std::string_view w : ws) {
    size_t i = 0;
    if (!is_upper_letter(next_code_point(w, i))) return false;
    while (i < w.size()) {
      char32_t cp = next_code_point(w, i);
      if (!is_lower_letter(cp) && !is_combining(cp)) return false;
    }
  }
  return true;
}

// A list item: "- x", "+ x", "• x", "– x", "* x".
std::optional<size_t> bullet_len(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s[0] == '-' || s[0] == '+') return 1;
  if (s[0] == '*' && s.size() > 1 && s[1] == ' ') return 1;
  if (s.substr(0, 3) == "\xE2\x80\xA2" || s.substr(0, 3) == "\xE2\x80\x93" ||
      s.substr(0, 3) == "\xE2\x80\x94")  // • – —
    return 3;
  return std::nullopt;
}

std::string_view strip_bullet(std::string_view s) {
  if (auto n = bullet_len(s)) return trim(s.substr(*n), kLine);
  return s;
}

// Starts a list item inside a paragraph: bullet, "1. ", "2.1. ", "a) ", "đ) ".
bool starts_list_item(std::string_view s) {
  if (bullet_len(s)) return true;
  size_t i = 0;
  while (i < s.size() && (is_digit(s[i]) || (i > 0 && s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1]))))
    ++i;
  if (i > 0 && i < s.size() && (s[i] == '.' || s[i] == ')')) return true;
  size_t j = 0;
  if (s.empty()) return false;
  char32_t cp = next_code_point(s, j);
  return is_lower_letter(cp) && j < s.size() && s[j] == ')';
}

std::string_view strip_trailing_punct(std::string_view s) {
  s = trim(s, kLine);
  while (!s.empty() && (s.back() == ',' || s.back() == ';' || s.back() == '.')) s = trim(s.substr(0, s.size() - 1), kLine);
  return s;
}

// ---------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------

struct Line {
  size_t no = 0;
  std::string text;  // trimmed, Markdown emphasis and escapes removed
  bool blank = true;  // empty, or a separator ("\*", "***", "---")
};

bool is_md_punct(char c) {
  static constexpr std::string_view kPunct = "\\`*_{}[]()#+-.!|<>~\"'=:;,/?@$%^&";
  return kPunct.find(c) != std::string_view::npos;
}

std::string clean_line(std::string_view raw) {
  std::string_view s = trim(raw, kLine);
  // Markdown heading and quote markers.
  if (!s.empty() && s[0] == '#') {
    size_t n = 0;
    while (n < s.size() && n < 6 && s[n] == '#') ++n;
    if (n == s.size() || s[n] == ' ') s = trim(s.substr(n), kLine);
  }
  while (!s.empty() && s[0] == '>') s = trim(s.substr(1), kLine);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && is_md_punct(s[i + 1])) {
      out += s[++i];  // "\*" -> "*"
      continue;
    }
    if (c == '\\' && i + 1 == s.size()) break;  // a Markdown hard break
    if ((c == '*' || c == '_') && i + 1 < s.size() && (s[i + 1] == '*' || s[i + 1] == '_')) {
      while (i + 1 < s.size() && (s[i + 1] == '*' || s[i + 1] == '_')) ++i;  // "**", "__", "***" emphasis
      continue;
    }
    out += c;
  }
  std::string_view t = trim(out, kLine);
  // A whole line in *italics* or _italics_.
  if (t.size() > 2 && (t.front() == '*' || t.front() == '_') && t.back() == t.front() && t[1] != ' ')
    t = trim(t.substr(1, t.size() - 2), kLine);
  return std::string(t);
}

std::vector<Line> split_lines(std::string_view in) {
  std::vector<Line> lines;
  if (in.substr(0, 3) == "\xEF\xBB\xBF") in.remove_prefix(3);
  size_t no = 1, b = 0;
  while (b <= in.size()) {
    size_t e = b;
    while (e < in.size() && in[e] != '\n' && in[e] != '\r') ++e;
    Line l;
    l.no = no++;
    std::string_view raw = trim(in.substr(b, e - b), kLine);
    if (has_alnum(raw)) {
      l.text = clean_line(raw);
      l.blank = l.text.empty();
    }
    lines.push_back(std::move(l));
    if (e >= in.size()) break;
    b = e + 1;
    if (in[e] == '\r' && b < in.size() && in[b] == '\n') ++b;
    if (b == in.size()) break;
  }
  return lines;
}

// Columns of a flattened two-column line: parts separated by a tab or 3+ spaces.
std::vector<std::string_view> segments(std::string_view s) {
  std::vector<std::string_view> out;
  size_t b = 0, i = 0;
  while (i < s.size()) {
    size_t run = 0, j = i;
    bool tab = false;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) {
      tab = tab || s[j] == '\t';
      ++run;
      ++j;
    }
    if (run > 0 && (tab || run >= 3)) {
      if (i > b) out.push_back(s.substr(b, i - b));
      b = j;
    }
    i = run > 0 ? j : i + 1;
  }
  if (b < s.size()) out.push_back(s.substr(b));
  return out;
}

// ---------------------------------------------------------------------------------------
// Header recognisers
// ---------------------------------------------------------------------------------------

bool is_motto(std::string_view s) {
  std::string key = match_key(s);
  return key.starts_with("dang cong san viet nam") || key.starts_with("cong hoa xa hoi chu nghia viet nam") ||
         key.starts_with("doc lap tu do hanh phuc");
}

std::optional<std::string> parse_number(std::string_view s) {
  auto off = match_lead(s, "so");
  if (!off || *off >= s.size()) return std::nullopt;
  char next = s[*off];
  if (!(next == ' ' || next == '\t' || next == ':' || next == '.' || is_digit(next))) return std::nullopt;
  std::string_view rest = after_label(s, *off);
  if (rest.empty() || words(rest).size() > 6) return std::nullopt;
  std::string number;
  for (char c : rest)
    if (c != ' ' && c != '\t') number += c;
  number = std::string(strip_trailing_punct(number));
  if (number.empty() || number.size() > 64) return std::nullopt;
  bool starts_ok = is_digit(number[0]) || number[0] == '/' || number[0] == '.' || number.starts_with("\xE2\x80\xA6");
  if (!starts_ok || number.find_first_of("0123456789/") == std::string::npos) return std::nullopt;
  return number;
}

bool digits_only(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool valid_date(int y, int m, int d) {
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  return d <= max;
}

struct DateHit {
  std::string place;
  std::string iso;  // empty when the date is not a valid one
};

// "<Place>, ngày 12 tháng 7 năm 2021", "ngày 12/7/2021", "Ngày 05 tháng 01 năm 2022";
// at most 8 words of place before "ngày".
std::optional<DateHit> parse_date_line(std::string_view s) {
  auto ws = words(s);
  for (size_t j = 0; j < ws.size() && j <= 8; ++j) {
    if (match_key(ws[j]) != "ngay") continue;
    auto num = [&](size_t k) { return k < ws.size() ? strip_trailing_punct(ws[k]) : std::string_view{}; };
    auto key = [&](size_t k) { return k < ws.size() ? match_key(ws[k]) : std::string{}; };
    DateHit hit;
    bool matched = false;
    int y = 0, m = 0, d = 0;
    // The date ends the line: "Thực hiện Công văn số 169-CV/TU, ngày 11/7/2021 của ..." is
    // running text, not a date line.
    if (key(j + 2) == "thang" && key(j + 4) == "nam" && j + 6 >= ws.size()) {
      matched = true;
      std::string_view ds = num(j + 1), ms = num(j + 3), ys = num(j + 5);
      if (digits_only(ds, 2) && digits_only(ms, 2) && digits_only(ys, 4)) {
        d = to_int(ds);
        m = to_int(ms);
        y = to_int(ys);
      }
    } else if (j + 2 == ws.size()) {
      std::string_view t = strip_trailing_punct(ws[j + 1]);
      size_t a = t.find_first_of("/-.");
      size_t b = a == std::string_view::npos ? a : t.find_first_of("/-.", a + 1);
      if (b != std::string_view::npos) {
        std::string_view ds = t.substr(0, a), ms = t.substr(a + 1, b - a - 1), ys = t.substr(b + 1);
        if (digits_only(ds, 2) && digits_only(ms, 2) && digits_only(ys, 4)) {
          matched = true;
          d = to_int(ds);
          m = to_int(ms);
          y = to_int(ys);
        }
      }
    }
    if (!matched) continue;
    // The place: the text before "ngày", without its trailing comma.
    size_t off = static_cast<size_t>(ws[j].data() - s.data());
    hit.place = collapse(strip_trailing_punct(s.substr(0, off)), kLine);
    if (valid_date(y, m, d)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
      hit.iso = buf;
    }
    return hit;
  }
  return std::nullopt;
}

std::optional<size_t> subject_lead(std::string_view s) {
  if (auto off = match_word(s, "v/v")) return off;
  if (auto off = match_word(s, "ve viec")) return off;
  return std::nullopt;
}

bool is_signing_start(std::string_view s) {
  if (!is_upper_text(s)) return false;
  for (std::string_view p : {"T/M ", "T/M.", "TM. ", "TM.", "TM ", "KT. ", "KT.", "KT ", "TL. ", "TL.", "TUQ.",
                             "TUQ ", "Q. ", "T.M. "})
    if (s.starts_with(p)) return true;
  return false;
}

bool is_signature_note(std::string_view s) {
  std::string low = lower(s);
  for (std::string_view w : {"signature", "signed", "stamp", "seal", "image", "handwritten"})
    if (low.find(w) != std::string::npos) return true;
  std::string key = " " + match_key(s) + " ";
  for (std::string_view w : {" da ky ", " chu ky ", " con dau ", " dong dau ", " ky ten ", " ky ghi ro "})
    if (key.find(w) != std::string::npos) return true;
  return false;
}

// The level word of an administrative unit starting at words[i] ("xã", "thị trấn", ...);
// returns how many words it takes, 0 when none. "huyện ủy" is a unit, not a level. With
// `folded`, the words are match keys ("xa", "thi tran"), otherwise lowercase NFC words.
size_t level_words(const std::vector<std::string>& ws, size_t i, bool folded) {
  auto at = [&](size_t k) -> std::string_view { return k < ws.size() ? std::string_view(ws[k]) : ""; };
  static constexpr std::array<std::array<std::string_view, 2>, 4> kTwoNfc{
      {{"thị", "trấn"}, {"thị", "xã"}, {"thành", "phố"}, {"khu", "phố"}}};
  static constexpr std::array<std::array<std::string_view, 2>, 4> kTwoKey{
      {{"thi", "tran"}, {"thi", "xa"}, {"thanh", "pho"}, {"khu", "pho"}}};
  static constexpr std::array<std::string_view, 8> kOneNfc{"xã", "huyện", "tỉnh", "phường", "quận", "ấp", "khóm", "thôn"};
  static constexpr std::array<std::string_view, 5> kOneKey{"xa", "huyen", "tinh", "phuong", "quan"};
  std::string_view uy = folded ? "uy" : "ủy";
  for (const auto& two : folded ? kTwoKey : kTwoNfc)
    if (at(i) == two[0] && at(i + 1) == two[1]) return at(i + 2) == uy ? 0 : 2;
  if (at(i + 1) == uy) return 0;
  if (folded) {
    for (auto w : kOneKey)
      if (at(i) == w) return 1;
  } else {
    for (auto w : kOneNfc)
      if (at(i) == w) return 1;
  }
  return 0;
}

std::string join_issuer(const std::vector<std::string>& block, size_t& first_of_issuer) {
  // A unit split over two lines: "ỦY BAN NHÂN DÂN" / "XÃ AN HIỆP".
  first_of_issuer = block.size() - 1;
  if (block.size() >= 2) {
    std::vector<std::string> key;
    for (std::string_view w : words(block.back())) key.push_back(match_key(w));
    if (level_words(key, 0, true) > 0) {
      first_of_issuer = block.size() - 2;
      return block[block.size() - 2] + " " + block.back();
    }
  }
  return block.back();
}

std::string name_case(std::string_view line) {
  std::string c = collapse(line, kLine);
  return is_upper_text(c) ? vietnamese_title_case(c) : c;
}

// ---------------------------------------------------------------------------------------
// Lists (Kính gửi, Nơi nhận)
// ---------------------------------------------------------------------------------------

struct ListBuilder {
  std::vector<DocumentLine> entries;
  std::string last_raw;  // the last entry as written, to see how it ended

  void add(std::string_view text, size_t no) {
    entries.push_back({no, collapse(strip_bullet(text), kLine)});
    last_raw = std::string(trim(text, kLine));
  }
  void append(std::string_view text) {
    if (entries.empty()) return;
    std::string& t = entries.back().text;
    std::string more = collapse(text, kLine);
    if (!t.empty() && !more.empty()) t += ' ';
    t += more;
    last_raw = std::string(trim(text, kLine));
  }
  // The last entry ends without punctuation, so the next line continues it.
  bool open() const {
    return !entries.empty() && !last_raw.empty() && last_raw.back() != ',' && last_raw.back() != ';' &&
           last_raw.back() != '.' && last_raw.back() != ':';
  }
  bool continues_list() const {
    return !last_raw.empty() && (last_raw.back() == ',' || last_raw.back() == ';');
  }
  std::vector<DocumentLine> finish() {
    std::vector<DocumentLine> out;
    for (auto& e : entries) {
      std::string t(strip_trailing_punct(e.text));
      if (!t.empty()) out.push_back({e.line, std::move(t)});
    }
    return out;
  }
};

constexpr size_t kMaxEntryLine = 240;  // a longer line is body text, not a list entry

// Parses the Kính gửi block starting at lines[i] whose entries begin at `rest`; returns
// the index of the first line after the block.
size_t parse_addressees(const std::vector<Line>& lines, size_t i, std::string_view rest, ParsedDocument& doc) {
  ListBuilder list;
  if (!rest.empty()) list.add(rest, lines[i].no);
  size_t j = i + 1;
  while (j < lines.size()) {
    const Line& l = lines[j];
    if (l.blank) {
      size_t k = j;
      while (k < lines.size() && lines[k].blank) ++k;
      if (k < lines.size() && (list.entries.empty() || (bullet_len(lines[k].text) && list.continues_list()))) {
        j = k;
        continue;
      }
      break;
    }
    if (match_word(l.text, "noi nhan") || l.text.size() > kMaxEntryLine) break;
    if (bullet_len(l.text)) {
      list.add(l.text, l.no);
    } else if (list.open()) {
      list.append(l.text);
    } else if (list.entries.empty() || list.continues_list()) {
      list.add(l.text, l.no);
    } else {
      break;  // the previous entry ended with "." and this line has no bullet: the body
    }
    ++j;
  }
  doc.addressees = list.finish();
  return j;
}

void parse_tail(const std::vector<Line>& lines, size_t from, ParsedDocument& doc, bool& noi_nhan_seen) {
  ListBuilder copies;
  bool in_copies = false, blank_since = false;
  std::vector<std::string> title;
  std::string name;
  for (size_t j = from; j < lines.size(); ++j) {
    const Line& l = lines[j];
    if (l.blank) {
      blank_since = true;
      continue;
    }
    auto segs = segments(l.text);
    for (size_t si = 0; si < segs.size(); ++si) {
      std::string_view seg = segs[si];
      if (auto off = match_word(seg, "noi nhan")) {
        noi_nhan_seen = in_copies = true;
        blank_since = false;
        std::string_view rest = after_label(seg, *off);
        if (!rest.empty()) copies.add(rest, l.no);
        continue;
      }
      bool bullet = bullet_len(seg).has_value();
      if (si == 0 && noi_nhan_seen && seg.size() <= kMaxEntryLine) {
        if (bullet) {
          copies.add(seg, l.no);
          in_copies = true;
          continue;
        }
        if (in_copies && !is_upper_text(seg) && !is_signature_note(seg)) {
          if (!blank_since && copies.open()) {
            copies.append(seg);
            continue;
          }
          if ((copies.entries.empty() || (!blank_since && copies.continues_list())) && !is_name_like(seg)) {
            copies.add(seg, l.no);
            continue;
          }
        }
        in_copies = false;
      }
      // The signing block.
      if (is_signature_note(seg)) continue;
      if (is_upper_text(seg)) {
        if (name.empty()) title.push_back(collapse(seg, kLine));
        continue;
      }
      if (is_name_like(seg)) name = collapse(seg, kLine);
    }
    blank_since = false;
  }
  doc.copies_to = copies.finish();
  for (size_t k = 0; k < title.size(); ++k) {
    if (k) doc.signer_title += ", ";
    doc.signer_title += title[k];
  }
  doc.signer_name = name;
}

std::string build_body(const std::vector<Line>& lines, size_t from, size_t to) {
  std::string body, para;
  auto flush = [&] {
    if (para.empty()) return;
    if (!body.empty()) body += "\n\n";
    body += para;
    para.clear();
  };
  for (size_t j = from; j < to && j < lines.size(); ++j) {
    const Line& l = lines[j];
    if (l.blank) {
      flush();
      continue;
    }
    if (!para.empty()) para += starts_list_item(l.text) ? '\n' : ' ';
    para += l.text;
  }
  flush();
  return body;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Title case
// ---------------------------------------------------------------------------------------

std::string vietnamese_title_case(std::string_view upper_name) {
  std::string low = lower(collapse(upper_name, kLine));
  std::vector<std::string> lw;
  for (std::string_view w : words(low)) lw.emplace_back(w == "uỷ" ? "ủy" : w);
  static const std::array<std::string_view, 16> kAbbrev{"ubnd", "hđnd", "ubmttq", "mttq", "btv", "bch",
                                                        "bcđ",  "thcs", "thpt",   "cand", "qđnd", "lđlđ",
                                                        "tw",   "vn",   "bchqs",  "đtn"};
  auto at = [&](size_t k) -> std::string_view { return k < lw.size() ? std::string_view(lw[k]) : ""; };
  // Phrases written the same wherever they stand; `proper` says whether a place name may
  // follow ("Huyện ủy Châu Thành", "Ủy ban nhân dân Châu Thành").
  struct Phrase {
    std::array<std::string_view, 5> w;
    std::string_view text;
    bool proper;
  };
  static const std::array<Phrase, 12> kPhrases{{
      {{"ủy", "ban", "nhân", "dân"}, "Ủy ban nhân dân", true},
      {{"hội", "đồng", "nhân", "dân"}, "Hội đồng nhân dân", true},
      {{"ban", "thường", "vụ"}, "Ban Thường vụ", false},
      {{"ban", "chấp", "hành"}, "Ban Chấp hành", false},
      {{"ban", "chỉ", "huy", "quân", "sự"}, "Ban Chỉ huy Quân sự", false},
      {{"ban", "chỉ", "đạo"}, "Ban Chỉ đạo", false},
      {{"mặt", "trận", "tổ", "quốc", "việt"}, "Mặt trận Tổ quốc Việt", true},
      {{"mặt", "trận", "tổ", "quốc"}, "Mặt trận Tổ quốc", true},
      {{"văn", "phòng"}, "Văn phòng", false},
      {{"trung", "tâm"}, "Trung tâm", false},
      {{"chi", "cục"}, "Chi cục", false},
      {{"việt", "nam"}, "Việt Nam", false},
  }};
  static const std::array<std::string_view, 7> kUyUnits{"huyện", "tỉnh", "đảng", "thành", "quận", "thị", "xã"};
  static const std::array<std::string_view, 4> kUnitWords{"sở", "phòng", "ban", "cục"};

  std::string out;
  bool proper = false, cap_next = false;
  auto emit = [&](std::string_view w) {
    if (!out.empty()) out += ' ';
    out += w;
  };
  for (size_t i = 0; i < lw.size();) {
    std::string_view w = lw[i];
    // Abbreviations keep their capitals: "UBND xã An Hiệp".
    bool abbrev = false;
    for (auto a : kAbbrev) abbrev = abbrev || w == a;
    if (abbrev) {
      emit(upper(w));
      proper = true;
      cap_next = false;
      ++i;
      continue;
    }
    // "<unit> ủy": Huyện ủy, Tỉnh ủy, Đảng ủy, Thành ủy, ...
    bool uy_unit = false;
    for (auto u : kUyUnits) uy_unit = uy_unit || (w == u && at(i + 1) == "ủy" && at(i + 2) != "ban");
    if (uy_unit) {
      emit(capitalise(w) + " ủy");
      proper = true;
      cap_next = false;
      i += 2;
      continue;
    }
    const Phrase* hit = nullptr;
    size_t hit_len = 0;
    for (const auto& p : kPhrases) {
      size_t n = 0;
      while (n < p.w.size() && !p.w[n].empty() && at(i + n) == p.w[n]) ++n;
      if (n > 0 && (n == p.w.size() || p.w[n].empty()) && n > hit_len) {
        hit = &p;
        hit_len = n;
      }
    }
    if (hit) {
      emit(hit->text);
      proper = hit->proper;
      cap_next = !hit->proper && (hit->text == "Văn phòng" || hit->text == "Trung tâm" || hit->text == "Chi cục");
      i += hit_len;
      continue;
    }
    if (size_t n = level_words(lw, i, false)) {
      for (size_t k = 0; k < n; ++k) emit(i + k == 0 ? capitalise(lw[i + k]) : lw[i + k]);
      proper = true;
      cap_next = false;
      i += n;
      continue;
    }
    bool unit = false;
    for (auto u : kUnitWords) unit = unit || w == u;
    emit(i == 0 || proper || cap_next ? capitalise(w) : std::string(w));
    cap_next = unit;
    if (unit) proper = false;
    ++i;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------

ParsedDocument parse_document_text(std::string_view utf8) {
  ParsedDocument doc;
  if (!valid_utf8(utf8)) {
    doc.problems.push_back("not UTF-8");
    return doc;
  }
  const std::vector<Line> lines = split_lines(utf8);
  const size_t n = lines.size();

  // Header: issuer block, motto, date, number, subject, up to Kính gửi or the body.
  std::vector<std::string> issuer_block;
  bool issuer_closed = false, motto = false, number_found = false, date_found = false, subject_found = false;
  std::optional<std::string> bad_date;
  size_t body_start = n;
  bool kinh_gui = false;
  size_t i = 0;
  for (; i < n; ++i) {
    const Line& l = lines[i];
    if (l.blank) continue;
    auto segs = segments(l.text);
    bool stop = false, next_line = false;
    for (size_t si = 0; si < segs.size() && !stop && !next_line; ++si) {
      std::string_view seg = segs[si];
      bool anything = motto || number_found || date_found || subject_found;
      if (auto off = match_word(seg, "kinh gui")) {
        issuer_closed = kinh_gui = stop = true;
        size_t rest_off = static_cast<size_t>(seg.data() - l.text.data()) + *off;
        body_start = parse_addressees(lines, i, after_label(l.text, rest_off), doc);
        break;
      }
      if (match_word(seg, "noi nhan") || is_signing_start(seg)) {
        body_start = i;
        stop = true;
        break;
      }
      if (is_motto(seg)) {
        motto = true;
        // A motto in the right-hand column of a flattened line leaves the issuer open.
        issuer_closed = issuer_closed || (si == 0 && !issuer_block.empty());
        continue;
      }
      if (!number_found) {
        if (auto num = parse_number(seg)) {
          doc.number = *num;
          number_found = issuer_closed = true;
          continue;
        }
      }
      if (!date_found) {
        if (auto d = parse_date_line(seg)) {
          date_found = issuer_closed = true;
          doc.place = d->place;
          doc.issued_date = d->iso;
          if (d->iso.empty()) bad_date = collapse(seg, kLine);
          continue;
        }
      }
      if (!subject_found && subject_lead(seg)) {
        subject_found = issuer_closed = true;
        std::string subject = collapse(l.text.substr(static_cast<size_t>(seg.data() - l.text.data())), kLine);
        size_t k = i + 1;
        for (; k < n && !lines[k].blank; ++k) {
          std::string_view t = lines[k].text;
          if (match_word(t, "kinh gui") || match_word(t, "noi nhan") || is_motto(t) || parse_number(t) ||
              parse_date_line(t))
            break;
          subject += ' ';
          subject += collapse(t, kLine);
        }
        doc.subject = subject;
        i = k - 1;
        next_line = true;
        break;
      }
      if (is_upper_text(seg)) {
        // Issuer lines come before the number and date; later ones are the document type
        // ("THÔNG BÁO") or marks ("KHẨN"), skipped.
        if (!issuer_closed && !number_found && !date_found) {
          issuer_block.push_back(collapse(seg, kLine));
          if (issuer_block.size() == 3) issuer_closed = true;
        }
        continue;
      }
      if (si > 0) continue;  // an unknown right-hand column
      if (!anything && !issuer_closed && issuer_block.size() < 3 && seg.size() <= 80 && words(seg).size() <= 10 &&
          seg.back() != '.' && seg.back() != ':' && seg.back() != ',' && seg.back() != ';') {
        issuer_block.push_back(collapse(seg, kLine));  // an issuer written in mixed case
        continue;
      }
      body_start = i;
      stop = true;
    }
    if (stop) break;
  }

  if (!issuer_block.empty()) {
    size_t first = 0;
    doc.issuer_name = name_case(join_issuer(issuer_block, first));
    if (first > 0) doc.issuer_parent = name_case(issuer_block[first - 1]);
  }

  // Body: up to "Nơi nhận" or the signing block.
  while (body_start < n && lines[body_start].blank) ++body_start;
  size_t body_end = body_start;
  for (; body_end < n; ++body_end) {
    const Line& l = lines[body_end];
    if (l.blank) continue;
    auto segs = segments(l.text);
    if (segs.empty()) continue;
    std::string_view first = segs.front();
    if (match_word(first, "noi nhan") || is_signing_start(first)) break;
  }
  doc.body = build_body(lines, body_start, body_end);
  bool noi_nhan = false;
  parse_tail(lines, body_end, doc, noi_nhan);

  if (doc.issuer_name.empty()) doc.problems.emplace_back("no issuer");
  if (!number_found) doc.problems.emplace_back("no document number (Số ...)");
  if (!date_found) doc.problems.emplace_back("no date line");
  if (bad_date) doc.problems.push_back("invalid date: " + *bad_date);
  if (!subject_found) doc.problems.emplace_back("no V/v subject");
  if (!kinh_gui) doc.problems.emplace_back("no Kính gửi list");
  else if (doc.addressees.empty()) doc.problems.emplace_back("empty Kính gửi list");
  if (doc.body.empty()) doc.problems.emplace_back("no body");
  if (!noi_nhan) doc.problems.emplace_back("no Nơi nhận list");
  if (doc.signer_name.empty()) doc.problems.emplace_back("no signer name");
  return doc;
}

}  // namespace herald
