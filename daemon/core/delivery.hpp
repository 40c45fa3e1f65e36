#pragma once
// A delivery as it is planned: one message to one recipient on one channel. The planner
// makes them for a directive, the acknowledgement follow-ups for reminders, escalations
// and help; the store records them as they come.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/channel.hpp"

namespace herald {

/// Why a delivery is sent: the directive itself; a reminder to someone who has not
/// acknowledged it; an escalation to their superior (its note names them); help on how to
/// acknowledge, to someone whose reply could not be placed (its note is the text).
enum class Purpose { directive, reminder, escalation, help };

std::string_view to_string(Purpose p);
std::optional<Purpose> parse_purpose(std::string_view s);

struct PlannedDelivery {
  std::string recipient_kind;  // "person" or "zone"
  std::string recipient_id;
  std::string recipient_name;
  Channel channel = Channel::sms;
  std::string address;  // E.164 phone, Zalo user id, email, or zone id
  DeliveryState state = DeliveryState::queued;
  std::string error_code;  // set when planned as failed (e.g. no_contact)
  std::string error_text;
  /// Channels to try next if this one fails or gets no receipt in time:
  /// "sms:+84912000101,email:a@b.example" (addresses resolved now, from the directory).
  std::string fallback;
  int64_t fallback_after_ms = 0;
  Purpose purpose = Purpose::directive;
  std::string note;  // an escalation's names, a help message's text, a reminder's kind
};

}  // namespace herald
