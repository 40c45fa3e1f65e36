#pragma once
// Acknowledgements by reply: what a recipient's SMS or Zalo reply says ("OK 158", "Đã nhận
// 158", "xn"), which open directive it acknowledges, and the help sent back when that is
// unclear. The codes themselves (their form, the footer asking for them) are in
// directive/ack_code.hpp.
//
// Reading rules (parse_reply), on the first 500 bytes of the reply, after unaccent(), ASCII
// lowercase, with punctuation, Unicode spaces and emoji as word separators:
// - An acknowledgement starts with a keyword: ok, oke, okay, okey, oki, okie, nhan, da nhan,
//   xn, xac nhan, da doc ("đồng ý" is agreement, not a read receipt, and is not one). Up to
//   four words may come before it, each a courtesy word (dạ, vâng, em, tôi, anh, chị,
//   ...), a reference word (vb, văn bản, số, ...) or a code ("158 OK").
// - A negation before the keyword, or right after it, makes the reply unknown: không, ko,
//   k, kg, kh, khg, hong, hok, chưa, chx, chẳng ("chưa nhận", "ko nhan dc", "nhận không
//   được").
// - A question mark anywhere makes the reply unknown: a question goes to a person.
// - The code is the first word after the keyword, skipping reference and filler words
//   (được, dc, rồi, vb, văn bản, số, công văn, ...); failing that, a code before the keyword.
//   A code is 1-6 letters and digits starting with a digit; the document-number tail is
//   cut off at its punctuation ("158-CV/HU", "158/QĐ-UBND" -> "158"), a keyword glued to the
//   code is split off ("OK158", "xn158a"). Anything after the code (a name, "cảm ơn") is
//   ignored.
// Codes are normalised (normalize_code) and resolve() compares normalised codes.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "directive/ack_code.hpp"

namespace herald::acks {

struct ParsedReply {
  /// unknown: not an acknowledgement (a question, "STOP", gibberish, a negation).
  enum class Kind { ack, unknown } kind = Kind::unknown;
  /// The ack code the reply names ("158", "158a"), normalised; empty if none.
  std::string code;
};

/// Reads a recipient's reply; see the rules above. Empty text, whitespace and text that
/// is not well-formed UTF-8 are unknown.
ParsedReply parse_reply(std::string_view utf8);

struct Resolution {
  enum class Outcome {
    matched,         ///< the reply names one of the open codes; `code` is that open code
    no_code_single,  ///< no code, exactly one open directive; `code` is its code
    ambiguous,       ///< no code, two or more open directives
    unknown_code,    ///< a code that is not open; `code` is the code the reply named
    none_open,       ///< an acknowledgement, but nothing is open for this sender
    not_an_ack,      ///< the reply is not an acknowledgement
  } outcome = Outcome::not_an_ack;
  std::string code;
};

/// Picks the directive a reply acknowledges among the sender's open directives (their ack
/// codes): the one whose code matches (case and leading zeros do not matter); with no code,
/// the only open one; otherwise nothing.
Resolution resolve(const ParsedReply& r, const std::vector<std::string>& open_codes);

/// Short help in Vietnamese (unaccented when `unaccented`): how to acknowledge, listing the
/// sender's open codes (at most 3, then how many more). Unaccented, it fits one GSM-7 SMS
/// (160 characters) for codes of up to 6 characters.
std::string help_text(const std::vector<std::string>& open_codes, bool unaccented);

}  // namespace herald::acks
