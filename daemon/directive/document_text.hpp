#pragma once
// Parsing a Vietnamese official document (công văn, thông báo, ...) in its usual text
// layout — plain text or light Markdown, as typed, OCR'd or converted from a PDF — into
// the fields of a directive: issuer, number (Số), place and date, V/v subject, Kính gửi
// list, body, Nơi nhận list and signing block.
//
// The layout understood, top to bottom (every part may be missing; what is missing is
// named in `problems`, nothing throws):
//
//   ĐẢNG BỘ TỈNH SÓC TRĂNG                      <- issuer_parent (title-cased)
//   HUYỆN ỦY CHÂU THÀNH                         <- issuer_name   (title-cased)
//   *                                           <- separator
//   ĐẢNG CỘNG SẢN VIỆT NAM                      <- national motto block, skipped
//   Châu Thành, ngày 12 tháng 7 năm 2021        <- place, issued_date
//   Số 158- CV/HU                               <- number "158-CV/HU"
//   V/v tăng cường ...                          <- subject, up to the next blank line
//   Kính gửi: - ...                             <- addressees, up to a blank line
//   <body>                                      <- up to "Nơi nhận:" (or a T/M, KT. line)
//   Nơi nhận: - Như trên, ...                   <- copies_to
//   T/M BAN THƯỜNG VỤ / BÍ THƯ                  <- signer_title "T/M BAN THƯỜNG VỤ, BÍ THƯ"
//   Phạm Anh Minh                               <- signer_name
//
// Header lines laid out in two columns and flattened to one line (separated by a tab or
// three or more spaces) are read column by column. Unicode: NFC is handled fully; NFD
// input is recognised for the key lines (Số, ngày, V/v, Kính gửi, Nơi nhận, motto) but
// title-casing only knows the NFC spellings of the unit words. Invalid UTF-8 gives the
// single problem "not UTF-8".
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

struct DocumentLine {
  size_t line = 0;  // 1-based line number in the input where the entry starts
  std::string text;
};

struct ParsedDocument {
  /// The line above the issuer, title-cased like issuer_name: "Đảng bộ tỉnh Sóc Trăng".
  std::string issuer_parent;
  /// The issuer block's own line in running-text case: "Huyện ủy Châu Thành". A block
  /// written "ỦY BAN NHÂN DÂN" / "XÃ AN HIỆP" on two lines is joined first.
  std::string issuer_name;
  std::string number;       // "158-CV/HU"
  std::string place;        // "Châu Thành"
  std::string issued_date;  // "2021-07-12"
  std::string subject;      // "V/v tăng cường ..." (lines joined with single spaces)
  std::vector<DocumentLine> addressees;
  /// Paragraphs separated by "\n\n"; lines of one paragraph joined by a space, or by
  /// "\n" before a list item ("- ", "1. ", "a) "). Markdown emphasis and escapes removed.
  std::string body;
  std::vector<DocumentLine> copies_to;
  std::string signer_title;  // "T/M BAN THƯỜNG VỤ, BÍ THƯ"
  std::string signer_name;   // "Phạm Anh Minh"
  /// What could not be found, e.g. "no document number (Số ...)", "no date line",
  /// "invalid date: ...", "no V/v subject", "no Kính gửi list", "no body",
  /// "no Nơi nhận list", "no signer name", "no issuer"; or only "not UTF-8".
  std::vector<std::string> problems;
};

/// Never throws for any input; linear in the size of the input.
ParsedDocument parse_document_text(std::string_view utf8);

/// An uppercase unit name in the case offices write it in running text:
/// "HUYỆN ỦY CHÂU THÀNH" -> "Huyện ủy Châu Thành", "ỦY BAN NHÂN DÂN XÃ AN HIỆP" ->
/// "Ủy ban nhân dân xã An Hiệp", "SỞ Y TẾ TỈNH SÓC TRĂNG" -> "Sở Y tế tỉnh Sóc Trăng",
/// "UBND XÃ AN HIỆP" -> "UBND xã An Hiệp". Old-style "UỶ" is written "ủy".
std::string vietnamese_title_case(std::string_view upper_name);

/// Vietnamese-aware case mapping of one code point (ASCII, Latin-1, Ă Đ Ĩ Ũ Ơ Ư and the
/// Latin Extended Additional letters Ạ..Ỹ); other code points are returned unchanged.
char32_t vietnamese_to_lower(char32_t cp);
char32_t vietnamese_to_upper(char32_t cp);

}  // namespace herald
