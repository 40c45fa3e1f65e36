#pragma once
// The short code a recipient's reply names a directive by ("OK 158"), and the footer every
// channel's message carries to ask for it. A directive needing acknowledgement gets the
// first of its candidate codes that no other open directive holds (the store decides,
// inside the transaction that takes the directive in).
//
// Codes are normalised: lowercase, leading zeros dropped ("05" -> "5", "158A" -> "158a").
// The candidates are in that form, and replies' codes are compared in it.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

/// A code in normal form: ASCII lowercase, leading zeros of the digits dropped ("0158A" ->
/// "158a", "0" stays "0"). Other text is only lowercased.
std::string normalize_code(std::string_view code);

/// True when `code` looks like an ack code: 1-6 ASCII letters and digits, the first a digit.
bool is_ack_code(std::string_view code);

/// The codes a directive may get, best first: the leading digits of its number without
/// leading zeros ("158-CV/HU" -> "158", "05/TB" -> "5"), then those digits plus a letter
/// ("158a" ... "158z"); then, and for a number without leading digits (or with more than
/// 5), 4 digits from a hash of `directive_id` (1000-9999, re-hashed 999 times), then 5.
std::vector<std::string> ack_code_candidates(std::string_view number, std::string_view directive_id);

/// The first candidate `taken` does not refuse (the last one if it refuses all).
std::string derive_ack_code(std::string_view number, std::string_view directive_id,
                            const std::function<bool(const std::string&)>& taken);

/// The footer each channel carries: "Trả lời OK 158 để xác nhận." / unaccented
/// "Tra loi OK 158 de xac nhan." The code is shown as given (lowercase from the candidates).
std::string ack_footer(std::string_view code, bool unaccented);

}  // namespace herald
