#pragma once
// Internet Message Format by hand, as pure functions: RFC 2047 encoded-words for UTF-8
// headers, RFC 5322 dates and addresses, and a multipart/alternative message whose parts
// are base64 (so Vietnamese text survives any relay) with CRLF line endings.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::mime {

/// Standard base64 (RFC 4648), no line breaks.
std::string base64(std::string_view bytes);

/// Base64 in lines of at most 76 characters, each ended by CRLF (RFC 2045 body).
std::string base64_lines(std::string_view bytes);

/// A header value for a header named `name`: as it is when it is short printable ASCII,
/// else RFC 2047 "=?UTF-8?B?...?=" encoded-words, each at most 75 characters and never
/// splitting a UTF-8 character, one per folded line ("\r\n " between them), so no line
/// of the header exceeds 78 characters.
std::string encode_header(std::string_view name, std::string_view utf8);

/// "Display Name <addr>" with the name quoted or RFC 2047 encoded as needed; just the
/// address when `display` is empty. Folded like encode_header for a header `name`.
std::string address(std::string_view name, std::string_view display, std::string_view addr);

/// RFC 5322 date-time in UTC: "Mon, 12 Jul 2021 01:00:00 +0000".
std::string rfc5322_date(int64_t epoch_ms);

/// "\n" and lone "\r" become CRLF: the canonical form of a MIME text part.
std::string crlf(std::string_view text);

struct Message {
  std::string from_name, from_addr;
  std::string to_name, to_addr;
  std::string reply_to;    // optional address
  std::string subject;     // UTF-8
  std::string message_id;  // with angle brackets: <token@domain>
  int64_t date_ms = 0;
  std::string boundary;    // must not occur in base64 text (use a '-' or '=')
  std::string text;        // UTF-8 plain text
  std::string html;        // UTF-8 HTML; empty: a single text/plain part
  std::vector<std::pair<std::string, std::string>> extra_headers;  // ASCII only
};

/// The whole message: headers, blank line, body; CRLF line endings, every line at most
/// 78 characters.
std::string build(const Message& m);

}  // namespace herald::mime
