#include "core/channel.hpp"

namespace herald {

namespace {
constexpr std::array<std::string_view, 4> kChannelNames{"sms", "zalo", "email", "loudspeaker"};
constexpr std::array<std::string_view, 10> kStateNames{
    "queued", "sending", "sent",    "delivered", "read",
    "acknowledged", "retrying", "failed", "expired", "cancelled"};
}  // namespace

std::string_view to_string(Channel c) { return kChannelNames[static_cast<size_t>(c)]; }

std::optional<Channel> parse_channel(std::string_view s) {
  for (size_t i = 0; i < kChannelNames.size(); ++i)
    if (kChannelNames[i] == s) return static_cast<Channel>(i);
  return std::nullopt;
}

std::string_view to_string(DeliveryState s) { return kStateNames[static_cast<size_t>(s)]; }

std::optional<DeliveryState> parse_state(std::string_view s) {
  for (size_t i = 0; i < kStateNames.size(); ++i)
    if (kStateNames[i] == s) return static_cast<DeliveryState>(i);
  return std::nullopt;
}

}  // namespace herald
