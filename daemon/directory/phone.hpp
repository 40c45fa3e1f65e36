#pragma once
// Phone numbers as Vietnamese offices write them, normalised to E.164.
#include <optional>
#include <string>
#include <string_view>

namespace herald {

struct PhoneResult {
  std::optional<std::string> e164;  // "+84912345678"
  std::string error;                // why it is not a number we can send to
};

/// Accepts "0912 345 678", "0912.345.678", "+84 912 345 678", "84912345678",
/// "(+84) 912-345-678", "0084 912...", landlines "0299 3861 234", and other countries'
/// numbers in +CC form. Vietnamese numbers must have a 9-digit mobile (3/5/7/8/9...) or
/// 10-digit landline (2...) national number.
PhoneResult normalize_phone(std::string_view raw);

}  // namespace herald
