#include "core/delivery.hpp"

#include <array>

namespace herald {

namespace {
constexpr std::array<std::string_view, 4> kPurposeNames{"directive", "reminder", "escalation", "help"};
}  // namespace

std::string_view to_string(Purpose p) { return kPurposeNames[static_cast<size_t>(p)]; }

std::optional<Purpose> parse_purpose(std::string_view s) {
  for (size_t i = 0; i < kPurposeNames.size(); ++i)
    if (kPurposeNames[i] == s) return static_cast<Purpose>(i);
  return std::nullopt;
}

}  // namespace herald
