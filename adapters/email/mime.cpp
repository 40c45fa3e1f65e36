#include "adapters/email/mime.hpp"

#include <ctime>

namespace herald::mime {

namespace {

constexpr size_t kMaxLine = 78;
constexpr std::string_view kWordOpen = "=?UTF-8?B?";
constexpr std::string_view kWordClose = "?=";
constexpr size_t kMaxWord = 75;  // RFC 2047 section 2

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// Length of the UTF-8 sequence that starts with `lead` (1 for a stray byte, so a bad
// input still advances).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xf0 && lead <= 0xf7) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

// Bytes of payload that fit an encoded-word of at most `word_chars` characters.
size_t payload_bytes(size_t word_chars) {
  size_t b64 = word_chars - kWordOpen.size() - kWordClose.size();
  return b64 / 4 * 3;
}

// RFC 2047 encoded-words for `text`, whole characters only; the first may be shorter so
// it fits after "Name: " on the header's first line. `at_spaces`: end a word after a
// space when one is in reach (for display names: some address parsers, Python's among
// them, keep the white space between encoded-words that RFC 2047 says to drop, and a
// split inside a word would then show as "huyệ n").
std::vector<std::string> encoded_words(std::string_view text, size_t first_word_chars,
                                       bool at_spaces = false) {
  std::vector<std::string> words;
  size_t budget = payload_bytes(std::min(first_word_chars, kMaxWord));
  for (size_t i = 0; i < text.size();) {
    size_t end = i, after_space = i;
    while (end < text.size()) {
      size_t n = std::min(utf8_length(static_cast<unsigned char>(text[end])), text.size() - end);
      if (end + n - i > budget) break;
      end += n;
      if (text[end - 1] == ' ') after_space = end;
    }
    if (at_spaces && end < text.size() && after_space > i) end = after_space;
    if (end == i) end = i + 1;  // never stall (budget is always more than 4 bytes)
    words.push_back(std::string(kWordOpen) + base64(text.substr(i, end - i)) + std::string(kWordClose));
    i = end;
    budget = payload_bytes(kMaxWord);
  }
  return words;
}

// "Name: tok tok ..." folded before a token that would pass 78 characters.
std::string fold(std::string_view name, const std::vector<std::string>& tokens) {
  std::string out;
  size_t line = name.size() + 2;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (i == 0) {
      out += t;
      line += t.size();
    } else if (line + 1 + t.size() > kMaxLine) {
      out += "\r\n " + t;
      line = 1 + t.size();
    } else {
      out += " " + t;
      line += 1 + t.size();
    }
  }
  return out;
}

size_t first_word_chars(std::string_view name) { return kMaxLine - (name.size() + 2); }

bool needs_quotes(std::string_view s) {
  for (char c : s)
    if (std::string_view("()<>[]:;@\\,.\"").find(c) != std::string_view::npos) return true;
  return false;
}

}  // namespace

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size_t rest = in.size() - i) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_lines(std::string_view bytes) {
  const std::string b = base64(bytes);
  std::string out;
  for (size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
  return out;
}

std::string encode_header(std::string_view name, std::string_view utf8) {
  if (printable_ascii(utf8) && utf8.find("=?") == std::string_view::npos &&
      name.size() + 2 + utf8.size() <= kMaxLine)
    return std::string(utf8);
  return fold(name, encoded_words(utf8, first_word_chars(name)));
}

std::string address(std::string_view name, std::string_view display, std::string_view addr) {
  const std::string angle = "<" + std::string(addr) + ">";
  if (display.empty()) return std::string(addr);
  std::vector<std::string> tokens;
  if (!printable_ascii(display) || display.find("=?") != std::string_view::npos) {
    tokens = encoded_words(display, first_word_chars(name), /*at_spaces=*/true);
  } else if (needs_quotes(display)) {
    std::string q = "\"";
    for (char c : display) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    tokens.push_back(q + "\"");
  } else {
    tokens.push_back(std::string(display));
  }
  tokens.push_back(angle);
  return fold(name, tokens);
}

std::string rfc5322_date(int64_t epoch_ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string build(const Message& m) {
  std::string out;
  auto header = [&](std::string_view name, const std::string& value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  header("From", address("From", m.from_name, m.from_addr));
  header("To", address("To", m.to_name, m.to_addr));
  if (!m.reply_to.empty()) header("Reply-To", m.reply_to);
  header("Subject", encode_header("Subject", m.subject));
  header("Date", rfc5322_date(m.date_ms));
  header("Message-ID", m.message_id);
  for (const auto& [k, v] : m.extra_headers) header(k, v);
  header("MIME-Version", "1.0");
  auto text_part = [&](const char* subtype, const std::string& body) {
    out += std::string("Content-Type: text/") + subtype + "; charset=UTF-8\r\n";
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    out += base64_lines(crlf(body));
  };
  if (m.html.empty()) {
    text_part("plain", m.text);
    return out;
  }
  out += "Content-Type: multipart/alternative;\r\n boundary=\"" + m.boundary + "\"\r\n\r\n";
  out += "--" + m.boundary + "\r\n";
  text_part("plain", m.text);
  out += "--" + m.boundary + "\r\n";
  text_part("html", m.html);
  out += "--" + m.boundary + "--\r\n";
  return out;
}

}  // namespace herald::mime
