#pragma once
// SMS text as a handset receives it: GSM 03.38 (7-bit) or UCS-2, counted in segments.
#include <string>
#include <string_view>

namespace herald {

enum class SmsCoding { gsm7, ucs2 };

struct SmsSize {
  SmsCoding coding = SmsCoding::gsm7;
  size_t units = 0;     // septets (GSM-7, escapes count 2) or UTF-16 code units (UCS-2)
  size_t segments = 0;  // 1 if it fits one message, else concatenated parts
};

/// True when every character is in the GSM 03.38 default alphabet or its extension
/// table (which costs two septets: ^ { } \ [ ~ ] | €).
bool fits_gsm7(std::string_view utf8);

/// Coding and segment count: GSM-7 160 / 153 per part, UCS-2 70 / 67 per part.
SmsSize measure_sms(std::string_view utf8);

/// Text to UTF-16BE bytes (what Kannel's coding=2 with charset=UTF-16BE carries).
std::string to_utf16be(std::string_view utf8);

}  // namespace herald
