#pragma once
// Vietnamese text folding: tiếng Việt không dấu, and the keys used to match aliases.
#include <string>
#include <string_view>

namespace herald {

/// Removes Vietnamese diacritics (precomposed and combining), đ->d, Đ->D; other text is
/// kept as is. "Ủy ban nhân dân xã Hồ Đắc Kiện" -> "Uy ban nhan dan xa Ho Dac Kien".
std::string unaccent(std::string_view utf8);

/// A comparison key: unaccented, ASCII-lowercased, punctuation turned into single spaces,
/// trimmed. "- Ủy ban nhân dân các xã, thị trấn," -> "uy ban nhan dan cac xa thi tran".
std::string match_key(std::string_view utf8);

/// The code point at s[i], advancing i by at least one byte; U+FFFD when malformed.
char32_t next_code_point(std::string_view s, size_t& i);
/// Appends `cp` to `out` as UTF-8.
void append_utf8(std::string& out, char32_t cp);

/// At most `max_bytes` of `s`, cut before a character rather than inside one.
std::string utf8_prefix(std::string_view s, size_t max_bytes);

/// `s` as well-formed UTF-8 without NUL: each malformed byte becomes U+FFFD, NULs go.
/// Text from outside (replies, provider errors) is kept as far as it can be.
std::string utf8_clean(std::string_view s);

/// True when `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

/// Offset of the first byte of `s` that is not well-formed UTF-8 (overlong, surrogate,
/// beyond U+10FFFF, truncated), or npos when there is none.
size_t invalid_utf8_at(std::string_view s);

}  // namespace herald
