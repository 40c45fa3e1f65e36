// text/speech: Vietnamese text rewritten for espeak-ng. The text is cut into lines and the
// lines into space-separated words; a word is its opening punctuation, a core and its
// closing punctuation. The core is tried against the patterns of read_core in order, with
// the word before it (ngày, tháng, thứ, số, giờ) as context. Every pattern is matched by
// hand on ASCII bytes, so a split never falls inside a UTF-8 sequence and every loop
// advances by at least one byte.
#include "text/speech.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <vector>

#include "text/vietnamese.hpp"

namespace herald {

namespace {

using std::string_view;

// ---------------------------------------------------------------------------------------
// Tables

struct Reading {
  string_view written;
  string_view spoken;
};

constexpr std::array<string_view, 10> kDigits{"không", "một", "hai", "ba",  "bốn",
                                              "năm",   "sáu", "bảy", "tám", "chín"};

// Abbreviations of running text, matched case-sensitively as whole words. Entries ending
// in "." own their dot: "TP. Sóc Trăng" is not the end of a sentence.
constexpr auto kAbbreviations = std::to_array<Reading>({
    {"UBND", "Ủy ban nhân dân"},
    {"HĐND", "Hội đồng nhân dân"},
    {"UBMTTQ", "Ủy ban Mặt trận Tổ quốc"},
    {"MTTQ", "Mặt trận Tổ quốc"},
    {"MTTQVN", "Mặt trận Tổ quốc Việt Nam"},
    {"V/v", "về việc"},
    {"V/V", "về việc"},
    {"BCH", "Ban Chấp hành"},
    {"BTV", "Ban Thường vụ"},
    {"BCĐ", "Ban Chỉ đạo"},
    {"T/M", "thay mặt"},
    {"K/T", "ký thay"},
    {"Đ/c", "đồng chí"},
    {"đ/c", "đồng chí"},
    {"ĐCSVN", "Đảng Cộng sản Việt Nam"},
    {"CSVN", "Cộng sản Việt Nam"},
    {"TW", "Trung ương"},
    {"TƯ", "Trung ương"},
    {"TP", "thành phố"},
    {"TP.", "thành phố"},
    {"Tp.", "thành phố"},
    {"TP.HCM", "thành phố Hồ Chí Minh"},
    {"HCM", "Hồ Chí Minh"},
    {"TX", "thị xã"},
    {"TX.", "thị xã"},
    // Plain "TT" is also thông tư and trung tâm; only the dotted form is surely thị trấn.
    {"TT.", "thị trấn"},
    {"VN", "Việt Nam"},
    {"THCS", "trung học cơ sở"},
    {"THPT", "trung học phổ thông"},
    {"CA", "công an"},
    {"QS", "quân sự"},
    {"BHYT", "bảo hiểm y tế"},
    {"BHXH", "bảo hiểm xã hội"},
    {"PCCC", "phòng cháy chữa cháy"},
    {"ATTP", "an toàn thực phẩm"},
    {"KT-XH", "kinh tế - xã hội"},
    {"CNTT", "công nghệ thông tin"},
    {"TTYT", "Trung tâm Y tế"},
    {"SYT", "Sở Y tế"},
    {"BYT", "Bộ Y tế"},
});

// The type of a document, first after its number: 158-CV/HU is a công văn.
constexpr auto kDocumentTypes = std::to_array<Reading>({
    {"CV", "công văn"},
    {"QĐ", "quyết định"},
    {"TB", "thông báo"},
    {"KH", "kế hoạch"},
    {"CT", "chỉ thị"},
    {"NQ", "nghị quyết"},
    {"BC", "báo cáo"},
    {"TTr", "tờ trình"},
    {"HD", "hướng dẫn"},
    {"CĐ", "công điện"},
    {"NĐ", "nghị định"},
    {"TT", "thông tư"},
    {"KL", "kết luận"},
    {"CTr", "chương trình"},
    {"QC", "quy chế"},
    {"GM", "giấy mời"},
    {"PA", "phương án"},
});

// Who issued it, after the type: 158-CV/HU comes from the Huyện ủy. Issuers that are also
// abbreviations of running text (UBND, BCĐ, SYT) come from kAbbreviations.
constexpr auto kIssuers = std::to_array<Reading>({
    {"HU", "Huyện ủy"},
    {"TU", "Tỉnh ủy"},
    {"ĐU", "Đảng ủy"},
    {"QU", "Quận ủy"},
    {"TTg", "Thủ tướng"},
    {"CP", "Chính phủ"},
    {"VP", "văn phòng"},
    {"VPCP", "Văn phòng Chính phủ"},
    {"QH", "Quốc hội"},
    {"BCA", "Bộ Công an"},
    {"BNV", "Bộ Nội vụ"},
});

// Foreign words the synthesiser would read letter by letter or in English; matched
// without regard to ASCII case ("Covid", "COVID").
constexpr auto kLoanwords = std::to_array<Reading>({
    {"covid", "Cô-vít"},
    {"vaccine", "vắc-xin"},
    {"virus", "vi-rút"},
});

// Units written against a number ("5km", "50.000đ"). Longer suffixes first: "km" before "m".
constexpr auto kUnits = std::to_array<Reading>({
    {"km", "ki-lô-mét"}, {"cm", "xăng-ti-mét"}, {"mm", "mi-li-mét"}, {"m2", "mét vuông"},
    {"m²", "mét vuông"}, {"m3", "mét khối"},    {"m³", "mét khối"},  {"m", "mét"},
    {"kg", "ki-lô-gam"}, {"ha", "héc-ta"},      {"VNĐ", "đồng"},     {"VND", "đồng"},
    {"đ", "đồng"},
});

// Vietnamese names of the letters, for spelling acronyms no table knows. Acronyms take the
// first letter of each syllable, so they never carry a tone mark: "CÁC" is a word.
constexpr auto kLetterNames = std::to_array<Reading>({
    {"A", "a"},    {"Ă", "á"},     {"Â", "ớ"},     {"B", "bê"},    {"C", "xê"},
    {"D", "dê"},   {"Đ", "đê"},    {"E", "e"},     {"Ê", "ê"},     {"F", "ép"},
    {"G", "gờ"},   {"H", "hát"},   {"I", "i"},     {"J", "gi"},    {"K", "ca"},
    {"L", "e-lờ"}, {"M", "em-mờ"}, {"N", "en-nờ"}, {"O", "o"},     {"Ô", "ô"},
    {"Ơ", "ơ"},    {"P", "pê"},    {"Q", "quy"},   {"R", "e-rờ"},  {"S", "ét"},
    {"T", "tê"},   {"U", "u"},     {"Ư", "ư"},     {"V", "vê"},    {"W", "vê kép"},
    {"X", "ích"},  {"Y", "i-grếch"}, {"Z", "dét"},
});

std::optional<string_view> find(std::span<const Reading> table, string_view written) {
  for (const auto& r : table)
    if (r.written == written) return r.spoken;
  return std::nullopt;
}

bool ascii_iequal(string_view a, string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [&](char x, char y) { return lower(x) == lower(y); });
}

// A context word in the three casings documents use: "ngày", "Ngày", "NGÀY".
struct Word {
  string_view lower, title, upper;
};
constexpr Word kNgay{"ngày", "Ngày", "NGÀY"};
constexpr Word kThang{"tháng", "Tháng", "THÁNG"};
constexpr Word kThu{"thứ", "Thứ", "THỨ"};
constexpr Word kSo{"số", "Số", "SỐ"};
constexpr Word kGio{"giờ", "Giờ", "GIỜ"};
constexpr Word kPhut{"phút", "Phút", "PHÚT"};

bool is(string_view w, const Word& k) { return w == k.lower || w == k.title || w == k.upper; }

// ---------------------------------------------------------------------------------------
// Small string helpers

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

bool has_digit(string_view s) { return std::any_of(s.begin(), s.end(), is_digit); }

// Up to 18 digits, so the value always fits.
std::optional<uint64_t> to_number(string_view digits) {
  if (!all_digits(digits) || digits.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : digits) n = n * 10 + static_cast<uint64_t>(c - '0');
  return n;
}

// Pieces between any of `seps`, empty pieces included ("158--CV" has one).
std::vector<string_view> split(string_view s, string_view seps) {
  std::vector<string_view> parts;
  size_t start = 0;
  for (size_t at; (at = s.find_first_of(seps, start)) != string_view::npos; start = at + 1)
    parts.push_back(s.substr(start, at - start));
  parts.push_back(s.substr(start));
  return parts;
}

// Length of the UTF-8 sequence led by `c`; 1 for a stray byte, so loops always advance.
size_t sequence_length(unsigned char c) {
  return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

void add_word(std::string& out, string_view w) {
  if (w.empty()) return;
  if (!out.empty()) out += ' ';
  out += w;
}

bool ends_with_pause(string_view w) {
  return !w.empty() && (string_view(",.;:!?").find(w.back()) != string_view::npos ||
                        w.ends_with("…"));
}

// ---------------------------------------------------------------------------------------
// Numbers

// 0..999 as one group. `full` when a higher group was said before it: then the hundreds
// are said even when zero ("hai nghìn không trăm hai mươi mốt") and a zero tens digit
// is "linh" ("một nghìn không trăm linh năm").
std::string read_group(unsigned n, bool full) {
  unsigned h = n / 100, t = n / 10 % 10, u = n % 10;
  std::string out;
  bool hundreds = h > 0 || full;
  if (hundreds) {
    add_word(out, kDigits[h]);
    add_word(out, "trăm");
  }
  if (t == 0) {
    if (u == 0) return out;
    if (hundreds) add_word(out, "linh");
    add_word(out, kDigits[u]);
  } else if (t == 1) {
    add_word(out, "mười");
    add_word(out, u == 5 ? "lăm" : u == 0 ? "" : kDigits[u]);
  } else {
    add_word(out, kDigits[t]);
    add_word(out, "mươi");
    add_word(out, u == 1 ? "mốt" : u == 4 ? "tư" : u == 5 ? "lăm" : u == 0 ? "" : kDigits[u]);
  }
  return out;
}

// Below a billion: the triệu, nghìn and unit groups, empty ones skipped.
std::string read_below_billion(uint64_t n, bool full) {
  struct Scale {
    uint64_t size;
    string_view name;
  };
  static constexpr std::array<Scale, 3> kScales{{{1'000'000, "triệu"}, {1'000, "nghìn"}, {1, ""}}};
  std::string out;
  for (const auto& [size, name] : kScales) {
    auto group = static_cast<unsigned>(n / size % 1000);
    if (group == 0) continue;
    add_word(out, read_group(group, full));
    add_word(out, name);
    full = true;
  }
  return out;
}

std::string read_digits(string_view digits) {
  std::string out;
  for (char c : digits)
    if (is_digit(c)) add_word(out, kDigits[static_cast<size_t>(c - '0')]);
  return out;
}

// A run this long is a phone number or a code, not an amount: amounts of that size are
// written with thousand dots.
constexpr size_t kDigitByDigitFrom = 8;
// Past this a grouped amount is no longer something a listener follows as a number.
constexpr size_t kLongestAmount = 15;

// Digits as written, `digits` non-empty: "05" is five, but "0123" is a code.
std::string read_digit_string(string_view digits) {
  if (digits.size() >= kDigitByDigitFrom || (digits.size() > 3 && digits[0] == '0'))
    return read_digits(digits);
  return read_number(*to_number(digits));
}

// "1.500.000" -> "1500000": a dot groups thousands in Vietnamese.
std::optional<std::string> ungroup(string_view s) {
  auto parts = split(s, ".");
  if (parts.size() < 2 || parts[0].size() > 3 || !all_digits(parts[0]) || parts[0][0] == '0')
    return std::nullopt;
  std::string digits(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].size() != 3 || !all_digits(parts[i])) return std::nullopt;
    digits += parts[i];
  }
  return digits;
}

std::optional<std::string> read_integer(string_view s) {
  if (all_digits(s)) return read_digit_string(s);
  auto digits = ungroup(s);
  if (!digits) return std::nullopt;
  return digits->size() > kLongestAmount ? read_digits(*digits) : read_number(*to_number(*digits));
}

// After "phẩy": leading zeros one by one, then the rest as a number ("3,14" -> "ba phẩy
// mười bốn", "0,05" -> "không phẩy không năm").
std::string read_fraction(string_view digits) {
  size_t zeros = std::min(digits.find_first_not_of('0'), digits.size());
  std::string out = read_digits(digits.substr(0, zeros));
  string_view rest = digits.substr(zeros);
  if (!rest.empty())
    add_word(out, rest.size() <= 3 ? read_number(*to_number(rest)) : read_digits(rest));
  return out;
}

// An amount: "1.500", "2,5", "1.234,5", or a section number "1.2.3" ("một chấm hai chấm ba").
std::optional<std::string> read_numeral(string_view s) {
  if (auto comma = s.find(','); comma != string_view::npos) {
    auto whole = read_integer(s.substr(0, comma));
    string_view fraction = s.substr(comma + 1);
    if (!whole || !all_digits(fraction)) return std::nullopt;
    return *whole + " phẩy " + read_fraction(fraction);
  }
  if (auto r = read_integer(s)) return r;
  auto parts = split(s, ".");
  if (parts.size() < 2) return std::nullopt;
  std::string out;
  for (auto p : parts) {
    if (!all_digits(p) || p.size() > 3) return std::nullopt;
    add_word(out, out.empty() ? "" : "chấm");
    add_word(out, read_digit_string(p));
  }
  return out;
}

std::string read_month(uint64_t m) { return m == 4 ? "tư" : read_number(m); }

// "thứ 1" -> "thứ nhất", "thứ 4" -> "thứ tư" (also the weekday), the rest as numbers.
std::string read_ordinal(string_view digits) {
  uint64_t n = *to_number(digits);
  return n == 1 ? "nhất" : n == 4 ? "tư" : read_digit_string(digits);
}

// ---------------------------------------------------------------------------------------
// Patterns of a word's core

struct Context {
  string_view prev;  // the word before, when no punctuation separates them
};

// An amount, read by the word before it: "thứ 2", "tháng 4", else a number.
std::optional<std::string> read_amount(string_view s, const Context& ctx) {
  if (!all_digits(s)) return read_numeral(s);
  if (s.size() < kDigitByDigitFrom) {
    uint64_t n = *to_number(s);
    if (is(ctx.prev, kThu)) return read_ordinal(s);
    if (is(ctx.prev, kThang) && n >= 1 && n <= 12) return read_month(n);
  }
  return read_digit_string(s);
}

// "17h00", "7h30", "8h", "7g30", "17:30".
std::optional<std::string> read_time(string_view s) {
  size_t sep = s.find_first_of("hHg:");
  if (sep == string_view::npos || sep == 0 || sep > 2 || !all_digits(s.substr(0, sep)))
    return std::nullopt;
  string_view minutes = s.substr(sep + 1);
  // "8h" is eight o'clock, but "5g" is five grams.
  bool bare_hour_ok = s[sep] == 'h' || s[sep] == 'H';
  if (minutes.empty() ? !bare_hour_ok : (minutes.size() != 2 || !all_digits(minutes)))
    return std::nullopt;
  uint64_t h = *to_number(s.substr(0, sep)), m = minutes.empty() ? 0 : *to_number(minutes);
  if (h > 24 || m > 59) return std::nullopt;
  std::string out = read_number(h) + " giờ";
  if (m > 0) add_word(out, read_number(m));
  return out;
}

// "12/7/2021", "12-7-2021", "12.7.2021", "2021-07-12"; "12/7" (a day) and "7/2021" (a
// month). The leading "ngày"/"tháng" is not repeated when the text already says it.
std::optional<std::string> read_date(string_view s, const Context& ctx) {
  char sep = s.find('/') != string_view::npos ? '/' : s.find('-') != string_view::npos ? '-' : '.';
  auto parts = split(s, string_view(&sep, 1));
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  for (auto p : parts)
    if (!all_digits(p)) return std::nullopt;
  if (parts.size() == 3 && sep == '-' && parts[0].size() == 4) std::swap(parts[0], parts[2]);
  auto in = [](string_view p, uint64_t lo, uint64_t hi) {
    return p.size() <= 2 && *to_number(p) >= lo && *to_number(p) <= hi;
  };
  std::string day_word = is(ctx.prev, kNgay) ? "" : "ngày ";
  if (parts.size() == 3) {
    // "12/7/21" is a date, but "1.2.10" a section number.
    bool year = parts[2].size() == 4 || (sep == '/' && parts[2].size() == 2);
    if (!in(parts[0], 1, 31) || !in(parts[1], 1, 12) || !year) return std::nullopt;
    return day_word + read_number(*to_number(parts[0])) + " tháng " +
           read_month(*to_number(parts[1])) + " năm " + read_number(*to_number(parts[2]));
  }
  if (sep != '/') return std::nullopt;  // "12-15" is a range, "2.5" a number
  if (parts[1].size() == 4 && in(parts[0], 1, 12))
    return (is(ctx.prev, kThang) ? "" : "tháng ") + read_month(*to_number(parts[0])) + " năm " +
           read_number(*to_number(parts[1]));
  if (in(parts[0], 1, 31) && in(parts[1], 1, 12))
    return day_word + read_number(*to_number(parts[0])) + " tháng " +
           read_month(*to_number(parts[1]));
  return std::nullopt;
}

std::optional<string_view> letter_name(string_view letter) { return find(kLetterNames, letter); }

// Each code point of `s`, whole.
std::vector<string_view> code_points(string_view s) {
  std::vector<string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Capital letters without tone marks, at most eight: "UBND", "XYZ", "ĐU".
bool acronym(string_view s) {
  auto letters = code_points(s);
  return !letters.empty() && letters.size() <= 8 &&
         std::all_of(letters.begin(), letters.end(),
                     [](string_view l) { return letter_name(l).has_value(); });
}

std::string spell(string_view s) {
  std::string out;
  for (auto l : code_points(s)) add_word(out, letter_name(l).value_or(l));
  return out;
}

bool document_part(string_view p) {
  return find(kDocumentTypes, p) || find(kIssuers, p) || find(kAbbreviations, p) || acronym(p);
}

// One part after the number. The first lettered part is the type ("TT" thông tư), later
// ones the issuer ("CP" Chính phủ); a four-digit part is the year ("01/2021/TT-BYT").
std::string read_document_part(string_view p, bool type_position) {
  if (all_digits(p))
    return p.size() == 4 ? "năm " + read_number(*to_number(p)) : read_digit_string(p);
  std::span<const Reading> type = kDocumentTypes, issuer = kIssuers;
  for (auto table : type_position ? std::array{type, issuer} : std::array{issuer, type})
    if (auto r = find(table, p)) return std::string(*r);
  if (auto r = find(kAbbreviations, p)) return std::string(*r);
  return acronym(p) ? spell(p) : std::string(p);
}

// "158-CV/HU" -> "số một trăm năm mươi tám, công văn, Huyện ủy"; "15/CT-TTg". Without
// "số" when the text already says it ("Công văn số 169-CV/TU").
std::optional<std::string> read_document_number(string_view s, const Context& ctx) {
  auto parts = split(s, "/-");
  if (parts.size() < 2 || !all_digits(parts[0]) || parts[0].size() > 6) return std::nullopt;
  bool lettered = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (all_digits(parts[i])) continue;
    if (!document_part(parts[i])) return std::nullopt;
    lettered = true;
  }
  if (!lettered) return std::nullopt;
  std::string out = is(ctx.prev, kSo) ? "" : "số ";
  out += read_digit_string(parts[0]);
  bool type_position = true;
  for (size_t i = 1; i < parts.size(); ++i) {
    out += ", ";
    out += read_document_part(parts[i], type_position);
    if (!all_digits(parts[i])) type_position = false;
  }
  return out;
}

// "0912.345.678", "0912 345 678" (joined by phone_number_run), "+84912345678": digit by
// digit, with a pause where the writer grouped them.
std::optional<std::string> read_phone(string_view s) {
  bool plus = s.starts_with('+');
  string_view body = plus ? s.substr(1) : s;
  if (body.empty() || (!plus && body[0] != '0')) return std::nullopt;
  auto groups = split(body, ".- ");
  size_t digits = 0;
  for (auto g : groups) {
    if (!all_digits(g)) return std::nullopt;
    digits += g.size();
  }
  if (plus ? (digits < 8 || digits > 15) : (digits < 9 || digits > 11)) return std::nullopt;
  std::string out = plus ? "cộng" : "";
  for (size_t i = 0; i < groups.size(); ++i) {
    add_word(out, read_digits(groups[i]));
    if (i + 1 < groups.size()) out += ',';
  }
  return out;
}

// Where an ASCII hyphen or an en dash splits `s` in two, when it is the only one.
std::optional<std::pair<string_view, string_view>> split_range(string_view s) {
  for (string_view dash : {string_view("-"), string_view("–")}) {
    size_t at = s.find(dash);
    if (at == string_view::npos || at == 0 || at + dash.size() >= s.size()) continue;
    string_view right = s.substr(at + dash.size());
    if (right.find('-') != string_view::npos || right.find("–") != string_view::npos)
      return std::nullopt;
    return std::pair{s.substr(0, at), right};
  }
  return std::nullopt;
}

// One end of a range: a time, a date or an amount.
std::optional<std::string> read_range_end(string_view s, const Context& ctx) {
  if (auto r = read_time(s)) return r;
  if (auto r = read_date(s, ctx)) return r;
  return read_amount(s, ctx);
}

// "12-15" -> "mười hai đến mười lăm", "7h30-11h", "12/7-15/7"; else one amount.
std::optional<std::string> read_range(string_view s, const Context& ctx) {
  auto range = split_range(s);
  if (!range) return read_amount(s, ctx);
  auto left = read_range_end(range->first, ctx), right = read_range_end(range->second, ctx);
  if (!left || !right) return std::nullopt;
  return *left + " đến " + *right;
}

// An amount with what follows it: "5%", "12-15%", "5km", "50.000đ".
std::optional<std::string> read_quantity(string_view s, const Context& ctx) {
  if (s.size() > 1 && s.ends_with('%')) {
    auto r = read_range(s.substr(0, s.size() - 1), ctx);
    return r ? std::optional(*r + " phần trăm") : std::nullopt;
  }
  if (auto r = read_range(s, ctx)) return r;
  for (const auto& unit : kUnits) {
    if (s.size() <= unit.written.size() || !s.ends_with(unit.written)) continue;
    if (auto r = read_numeral(s.substr(0, s.size() - unit.written.size())))
      return *r + " " + std::string(unit.spoken);
  }
  return std::nullopt;
}

// "F0", "F1": a capital and a number, as the epidemic notices name contact levels.
std::optional<std::string> read_letter_number(string_view s) {
  if (s.size() < 2 || s.size() > 4 || s[0] < 'A' || s[0] > 'Z' || !all_digits(s.substr(1)))
    return std::nullopt;
  return std::string(*letter_name(s.substr(0, 1))) + " " + read_digit_string(s.substr(1));
}

std::optional<string_view> find_loanword(string_view s) {
  for (const auto& r : kLoanwords)
    if (ascii_iequal(r.written, s)) return r.spoken;
  return std::nullopt;
}

// "Covid-19" -> "Cô-vít mười chín": a word, a hyphen and a number.
std::optional<std::string> read_word_number(string_view s) {
  size_t dash = s.rfind('-');
  if (dash == string_view::npos || dash == 0) return std::nullopt;
  string_view word = s.substr(0, dash), number = s.substr(dash + 1);
  if (!all_digits(number) || has_digit(word)) return std::nullopt;
  auto spoken = find(kAbbreviations, word);
  if (!spoken) spoken = find_loanword(word);
  return std::string(spoken.value_or(word)) + " " + read_digit_string(number);
}

std::string read_core(string_view core, const Context& ctx) {
  if (auto r = find(kAbbreviations, core)) return std::string(*r);
  if (auto r = read_time(core)) return *r;
  if (auto r = read_date(core, ctx)) return *r;
  if (auto r = read_document_number(core, ctx)) return *r;
  if (auto r = read_phone(core)) return *r;
  if (auto r = read_quantity(core, ctx)) return *r;
  if (auto r = read_letter_number(core)) return *r;
  if (auto r = read_word_number(core)) return *r;
  if (auto r = find_loanword(core)) return std::string(*r);
  if (core == "%") return "phần trăm";
  if (core == "&") return "và";
  return std::string(core);
}

// ---------------------------------------------------------------------------------------
// Words and lines

constexpr std::array<string_view, 8> kOpeners{"(", "[", "{", "\"", "'", "“", "‘", "«"};
constexpr std::array<string_view, 15> kClosers{")", "]", "}", "\"", "'", "”", "’", "»",
                                               ",", ".", ";", ":", "!", "?", "…"};
constexpr std::array<string_view, 6> kBullets{"-", "–", "—", "+", "•", "·"};

struct Token {
  string_view lead, core, trail;
};

Token split_token(string_view w) {
  size_t b = 0, e = w.size();
  for (bool more = true; more && b < e;) {
    more = false;
    for (auto p : kOpeners)
      if (w.substr(b, e - b).starts_with(p)) {
        b += p.size();
        more = true;
        break;
      }
  }
  for (bool more = true; more && b < e;) {
    more = false;
    for (auto p : kClosers)
      if (w.substr(b, e - b).ends_with(p)) {
        e -= p.size();
        more = true;
        break;
      }
  }
  // An abbreviation's own dot ("TP.", "Tp.") does not end a sentence.
  if (e < w.size() && w[e] == '.' && find(kAbbreviations, w.substr(b, e + 1 - b))) ++e;
  return {w.substr(0, b), w.substr(b, e - b), w.substr(e)};
}

bool is_dash(string_view s) { return s == "-" || s == "–" || s == "—"; }

bool all_zeros(string_view s) {
  return !s.empty() && s.size() <= 2 && s.find_first_not_of('0') == string_view::npos;
}

// Markdown emphasis and headings, and the backslash that escapes them, are not read;
// tabs and no-break spaces separate words like spaces.
std::string clean_line(string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '*' || c == '#' || c == '`' || c == '\\') continue;
    if (c == '\t' || c == '\v' || c == '\f') c = ' ';
    if (line.substr(i).starts_with("\u00A0")) {
      c = ' ';
      ++i;
    }
    out += c;
  }
  return out;
}

std::vector<std::string> split_words(string_view line) {
  std::vector<std::string> words;
  for (auto w : split(line, " "))
    if (!w.empty()) words.emplace_back(w);
  return words;
}

// "- Ủy ban ..." and "-Ủy ban ...": the bullet is a pause the line break already makes.
void drop_bullet(std::vector<std::string>& words) {
  if (words.empty()) return;
  if (std::find(kBullets.begin(), kBullets.end(), words[0]) != kBullets.end()) {
    words.erase(words.begin());
    return;
  }
  for (auto b : kBullets) {
    const std::string& w = words[0];
    if (w.size() > b.size() && w.starts_with(b) && !is_digit(w[b.size()]) && w[b.size()] != '-') {
      words[0].erase(0, b.size());
      return;
    }
  }
}

// After a number, the rest of a document number: "CV/HU", "CT-TTg".
bool document_tail(string_view w) {
  Token t = split_token(w);
  if (!t.lead.empty()) return false;
  auto parts = split(t.core, "/-");
  if (all_digits(parts[0]) || !document_part(parts[0])) return false;
  for (auto p : parts)
    if (!all_digits(p) && !document_part(p)) return false;
  return parts.size() > 1 || find(kDocumentTypes, parts[0]);
}

// "158- CV/HU" (as the seed writes it) and "158 - CV/HU": how many words from words[i] make
// one document number (0 for none), and that number as one word "158-CV/HU".
size_t document_number_run(const std::vector<std::string>& words, size_t i, std::string& joined) {
  string_view a = words[i];
  bool dash_after = a.size() > 1 && a.back() == '-' && all_digits(a.substr(0, a.size() - 1));
  if ((!dash_after && !all_digits(a)) || i + 1 >= words.size()) return 0;
  size_t tail = i + 1;
  string_view rest = words[tail];
  joined = a;
  if (!dash_after) {
    joined += '-';
    if (rest == "-" && i + 2 < words.size()) rest = words[tail = i + 2];
    else if (rest.size() > 1 && rest[0] == '-') rest.remove_prefix(1);
    else return 0;
  }
  if (!document_tail(rest)) return 0;
  joined += rest;
  return tail + 1 - i;
}

// "0912 345 678", "+84 912 345 678": how many words from words[i] make one phone number
// (0 for none), and the number as one word.
size_t phone_number_run(const std::vector<std::string>& words, size_t i, std::string& joined) {
  string_view head = words[i];
  bool plus = head.starts_with('+');
  string_view head_digits = head.substr(plus ? 1 : 0);
  if (!all_digits(head_digits) || head_digits.size() < 2 || head_digits.size() > 4 ||
      (!plus && head[0] != '0'))
    return 0;
  size_t digits = head_digits.size(), most = plus ? 13 : 11, j = i + 1;
  joined = head;
  for (; j < words.size(); ++j) {
    Token t = split_token(words[j]);
    if (!t.lead.empty() || !all_digits(t.core) || t.core.size() < 2 || t.core.size() > 4 ||
        digits + t.core.size() > most)
      break;
    joined += ' ' + words[j];
    digits += t.core.size();
    if (!t.trail.empty()) {
      ++j;
      break;
    }
  }
  return digits >= 9 ? j - i : 0;
}

// `words` with every run that `run` recognises made one word. A new vector rather than
// erasing in place, so a long line costs linear time.
template <class Run>
std::vector<std::string> join_runs(const std::vector<std::string>& words, Run run) {
  std::vector<std::string> out;
  out.reserve(words.size());
  for (size_t i = 0; i < words.size();) {
    std::string joined;
    if (size_t n = run(words, i, joined); n > 1) {
      out.push_back(std::move(joined));
      i += n;
    } else {
      out.push_back(words[i++]);
    }
  }
  return out;
}

// Appends one spoken word with its punctuation. An empty reading (the "00" of "17 giờ 00")
// leaves its punctuation on the word before.
void emit(std::vector<std::string>& out, string_view lead, string_view text, string_view trail) {
  if (text.empty()) {
    if (lead.empty() && !out.empty()) out.back() += trail;
    else if (!lead.empty() || !trail.empty()) out.push_back(std::string(lead) + std::string(trail));
    return;
  }
  out.push_back(std::string(lead) + std::string(text) + std::string(trail));
}

std::vector<std::string> read_line(const std::vector<std::string>& line) {
  auto words = join_runs(join_runs(line, document_number_run), phone_number_run);
  std::vector<Token> tokens;
  for (const auto& w : words) tokens.push_back(split_token(w));
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    Context ctx;
    if (i > 0 && tokens[i - 1].trail.empty()) ctx.prev = tokens[i - 1].core;
    const Token* next = i + 1 < tokens.size() ? &tokens[i + 1] : nullptr;
    if (is_dash(t.core) && t.lead.empty()) {
      // Between two amounts a dash is a range ("12 - 15"); after punctuation it is the
      // bullet of "Kính gửi: - Chi bộ", a pause already made.
      bool range = !ctx.prev.empty() && next && read_range_end(ctx.prev, {}) &&
                   read_range_end(next->core, {});
      bool pause_made = out.empty() || ends_with_pause(out.back());
      emit(out, "", range ? "đến" : pause_made ? "" : t.core, t.trail);
    } else if (is(ctx.prev, kGio) && all_zeros(t.core)) {
      // "17 giờ 00 (phút)": a whole hour is said without its minutes.
      if (t.trail.empty() && next && is(next->core, kPhut)) ++i;
      emit(out, t.lead, "", tokens[i].trail);
    } else {
      emit(out, t.lead, read_core(t.core, ctx), t.trail);
    }
  }
  return out;
}

// A line that goes on with a small letter continues the sentence the line before began.
bool starts_lowercase(string_view w) {
  if (w.empty()) return false;
  size_t length = std::min(sequence_length(static_cast<unsigned char>(w[0])), w.size());
  std::string first = unaccent(w.substr(0, length));
  return !first.empty() && first[0] >= 'a' && first[0] <= 'z';
}

}  // namespace

std::string read_number(uint64_t n) {
  if (n == 0) return "không";
  constexpr uint64_t kBillion = 1'000'000'000;
  if (n < kBillion) return read_below_billion(n, false);
  std::string out = read_number(n / kBillion) + " tỷ";
  if (uint64_t rest = n % kBillion; rest > 0) add_word(out, read_below_billion(rest, true));
  return out;
}

std::string normalize_for_speech(string_view text) {
  if (!valid_utf8(text)) return std::string(text);
  std::vector<std::vector<std::string>> lines;
  for (auto line : split(text, "\r\n")) {
    auto words = split_words(clean_line(line));
    drop_bullet(words);
    if (!words.empty()) lines.push_back(std::move(words));
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto spoken = read_line(lines[i]);
    if (spoken.empty()) continue;
    // A line break is a sentence break, unless the next line carries the sentence on.
    bool more = i + 1 < lines.size();
    if (more && !ends_with_pause(spoken.back()) && !starts_lowercase(lines[i + 1][0]))
      spoken.back() += '.';
    for (const auto& w : spoken) add_word(out, w);
  }
  return out;
}

}  // namespace herald
