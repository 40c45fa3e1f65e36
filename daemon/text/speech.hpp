#pragma once
// Vietnamese text rewritten for a speech synthesiser (espeak-ng on the commune loudspeakers):
// numbers, dates, times, document numbers and the abbreviations of official documents
// become the words an announcer would say.
//
// Reading choices, so that every announcement sounds the same:
// - 4 after a tens digit of two or more is "tư" ("hai mươi tư"), elsewhere "bốn" ("mười
//   bốn", "một trăm linh bốn"); 1 there is "mốt", 5 after any tens digit is "lăm".
// - A zero tens digit is "linh" ("một trăm linh năm"); a group after a higher one always
//   says its hundreds ("hai nghìn không trăm hai mươi mốt"); empty groups are skipped
//   ("một triệu không trăm linh năm").
// - Days are plain numbers ("ngày một tháng bảy", no "mồng"); month 4 is "tư".
// - Document numbers "158-CV/HU" read as "số một trăm năm mươi tám, công văn, Huyện ủy";
//   unknown acronyms are spelled with Vietnamese letter names ("XYZ" -> "ích i-grếch dét").
// - A run of 8 or more digits, a phone number and anything longer than 15 digits are read
//   digit by digit.
#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

/// Reads a non-negative integer the way a Vietnamese announcer does:
/// 158 -> "một trăm năm mươi tám", 21 -> "hai mươi mốt", 105 -> "một trăm linh năm",
/// 15 -> "mười lăm", 1000000 -> "một triệu", 2021 -> "hai nghìn không trăm hai mươi mốt".
std::string read_number(uint64_t n);

/// Rewrites Vietnamese text so a speech synthesiser reads it as a person would: numbers,
/// dates, times, document numbers and common abbreviations become words. The result is
/// one line with single spaces; line breaks become sentence breaks. Text that is not
/// well-formed UTF-8 comes back unchanged.
std::string normalize_for_speech(std::string_view utf8);

}  // namespace herald
