#include "directive/ack_code.hpp"

#include <cstdint>

#include "text/vietnamese.hpp"

namespace herald {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Hash codes: 1,000 of 4 digits, then 1,000 of 5.
constexpr int kHashCodes = 2000;

}  // namespace

std::string normalize_code(std::string_view code) {
  std::string out;
  size_t i = 0;
  while (i + 1 < code.size() && code[i] == '0' && is_digit(code[i + 1])) ++i;
  for (; i < code.size(); ++i) out += lower(code[i]);
  return out;
}

bool is_ack_code(std::string_view code) {
  if (code.empty() || code.size() > 6 || !is_digit(code[0])) return false;
  for (char c : code)
    if (!is_digit(c) && !is_lower(lower(c))) return false;
  return true;
}

std::vector<std::string> ack_code_candidates(std::string_view number, std::string_view directive_id) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < number.size() && (number[start] == ' ' || number[start] == '\t')) ++start;
  size_t end = start;
  while (end < number.size() && is_digit(number[end])) ++end;
  if (end > start && end - start <= 5) {
    const std::string base = normalize_code(number.substr(start, end - start));
    out.push_back(base);
    for (char letter = 'a'; letter <= 'z'; ++letter) out.push_back(base + letter);
  }
  // From the id's hash: 4 digits, re-hashed while taken; 5 digits after that.
  out.reserve(out.size() + kHashCodes);
  for (int attempt = 0; attempt < kHashCodes; ++attempt) {
    std::string key(directive_id);
    if (attempt > 0) key += "#" + std::to_string(attempt);
    const uint64_t h = fnv1a(key);
    out.push_back(attempt < kHashCodes / 2 ? std::to_string(1000 + h % 9000) : std::to_string(10000 + h % 90000));
  }
  return out;
}

std::string derive_ack_code(std::string_view number, std::string_view directive_id,
                            const std::function<bool(const std::string&)>& taken) {
  const std::vector<std::string> candidates = ack_code_candidates(number, directive_id);
  for (const auto& code : candidates)
    if (!taken(code)) return code;
  return candidates.back();
}

std::string ack_footer(std::string_view code, bool unaccented) {
  std::string text = "Trả lời OK " + std::string(code) + " để xác nhận.";
  return unaccented ? unaccent(text) : text;
}

}  // namespace herald
