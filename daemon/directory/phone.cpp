#include "directory/phone.hpp"

namespace herald {

PhoneResult normalize_phone(std::string_view raw) {
  std::string digits;
  bool plus = false;
  bool seen_digit = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c >= '0' && c <= '9') {
      digits += c;
      seen_digit = true;
    } else if (c == '+' && !seen_digit && !plus) {
      plus = true;
    } else if (c == ' ' || c == '.' || c == '-' || c == '(' || c == ')' || c == '\t') {
      continue;
    } else {
      return {std::nullopt, "phone number \"" + std::string(raw) +
                                "\" contains a character that is not a digit, space, dot, "
                                "dash, parenthesis or leading +"};
    }
  }
  if (digits.empty()) return {std::nullopt, "phone number is empty"};

  // "+84 (0) 912..." and "(+84) 0912...": a trunk 0 after the country code is dropped.
  std::string national;
  if (plus) {
    if (digits.rfind("84", 0) != 0) {
      if (digits[0] == '0')
        return {std::nullopt, "phone number \"" + std::string(raw) +
                                  "\": a country code cannot start with 0"};
      if (digits.size() < 8 || digits.size() > 15)
        return {std::nullopt, "phone number \"" + std::string(raw) +
                                  "\": an international number has 8 to 15 digits"};
      return {"+" + digits, {}};
    }
    national = digits.substr(2);
  } else if (digits.rfind("0084", 0) == 0) {
    national = digits.substr(4);
  } else if (digits[0] == '0') {
    national = digits.substr(1);
  } else if (digits.rfind("84", 0) == 0 && (digits.size() == 11 || digits.size() == 12)) {
    national = digits.substr(2);
  } else {
    return {std::nullopt, "phone number \"" + std::string(raw) +
                              "\": write it as 0xxx xxx xxx or +84 xxx xxx xxx"};
  }
  if (!national.empty() && national[0] == '0') national.erase(0, 1);

  bool mobile = national.size() == 9 && (national[0] == '3' || national[0] == '5' ||
                                         national[0] == '7' || national[0] == '8' ||
                                         national[0] == '9');
  bool landline = national.size() == 10 && national[0] == '2';
  if (!mobile && !landline)
    return {std::nullopt, "phone number \"" + std::string(raw) +
                              "\": a Vietnamese number has 10 digits (0 + 9) for mobiles or "
                              "11 (02xx...) for landlines"};
  return {"+84" + national, {}};
}

}  // namespace herald
