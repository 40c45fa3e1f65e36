#pragma once
// The delivery channels Herald knows, and a delivery's states (docs/architecture.md).
#include <array>
#include <optional>
#include <string_view>

namespace herald {

enum class Channel { sms, zalo, email, loudspeaker };
inline constexpr std::array<Channel, 4> kAllChannels{Channel::sms, Channel::zalo, Channel::email,
                                                     Channel::loudspeaker};

std::string_view to_string(Channel c);
std::optional<Channel> parse_channel(std::string_view s);

enum class DeliveryState {
  queued, sending, sent, delivered, read, acknowledged, retrying, failed, expired, cancelled
};
inline constexpr std::array<DeliveryState, 10> kAllStates{
    DeliveryState::queued,    DeliveryState::sending,  DeliveryState::sent,
    DeliveryState::delivered, DeliveryState::read,     DeliveryState::acknowledged,
    DeliveryState::retrying,  DeliveryState::failed,   DeliveryState::expired,
    DeliveryState::cancelled};

std::string_view to_string(DeliveryState s);
std::optional<DeliveryState> parse_state(std::string_view s);

}  // namespace herald
