#include "render/sms_text.hpp"

#include <array>
#include <string>

namespace herald {

namespace {

char32_t decode(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i++]);
  if (c < 0x80) return c;
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  char32_t cp = c & (0x3F >> extra);
  for (int k = 0; k < extra && i < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return extra ? cp : 0xFFFD;
}

// GSM 03.38 default alphabet (non-ASCII and ASCII members) and the extension table.
constexpr std::u32string_view kGsmBasic =
    U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    U"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
constexpr std::u32string_view kGsmExtension = U"^{}\\[~]|€\f";

// 0 when not encodable, else septets needed.
int gsm_septets(char32_t cp) {
  if (kGsmBasic.find(cp) != std::u32string_view::npos) return 1;
  if (kGsmExtension.find(cp) != std::u32string_view::npos) return 2;
  return 0;
}

}  // namespace

bool fits_gsm7(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (!gsm_septets(decode(s, i))) return false;
  return true;
}

SmsSize measure_sms(std::string_view s) {
  SmsSize out;
  if (fits_gsm7(s)) {
    for (size_t i = 0; i < s.size();) out.units += static_cast<size_t>(gsm_septets(decode(s, i)));
    out.coding = SmsCoding::gsm7;
    out.segments = out.units <= 160 ? 1 : (out.units + 152) / 153;
  } else {
    for (size_t i = 0; i < s.size();) out.units += decode(s, i) > 0xFFFF ? 2 : 1;
    out.coding = SmsCoding::ucs2;
    out.segments = out.units <= 70 ? 1 : (out.units + 66) / 67;
  }
  if (out.units == 0) out.segments = 1;
  return out;
}

std::string to_utf16be(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  auto put = [&](char32_t u) {
    out += static_cast<char>((u >> 8) & 0xFF);
    out += static_cast<char>(u & 0xFF);
  };
  for (size_t i = 0; i < s.size();) {
    char32_t cp = decode(s, i);
    if (cp > 0xFFFF) {
      cp -= 0x10000;
      put(0xD800 + (cp >> 10));
      put(0xDC00 + (cp & 0x3FF));
    } else {
      put(cp);
    }
  }
  return out;
}

}  // namespace herald
